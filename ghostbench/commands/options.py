"""Parsing of the comma-separated options ``bench`` and ``run`` share (one message for one mistake)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from ghostbench.core.cell import LOCAL_DEVICES
from ghostbench.core.errors import GhostbenchError
from ghostbench.worker.env import usable_cpus


def csv_items(text: str) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def optional_items(flag: str, text: str | None) -> tuple[str, ...] | None:
    """A list flag that may be left out (None: the default set) but, when given, names something:
    ``--models ''`` is a mistake, not a request for the default."""
    if text is None:
        return None
    items = csv_items(text)
    if not items:
        raise GhostbenchError(f"{flag} {text!r} names nothing; leave {flag} out for the default")
    return items


def model_name(text: str) -> str:
    """argparse ``type`` for one registry name: surrounding whitespace dropped, empty refused."""
    name = text.strip()
    if not name:
        raise argparse.ArgumentTypeError("a model name cannot be empty")
    return name


OVERSUBSCRIBE_FLAG = "--oversubscribe"
OVERSUBSCRIBE_HELP = "allow --threads beyond the CPUs this process may use (times contention, not the model)"


def thread_counts(text: str, *, device: str, oversubscribe: bool = False) -> tuple[int, ...]:
    """``--threads 1,4`` -> ``(1, 4)``; anything but positive integers is a one-line error, and so
    is more threads than this machine's usable CPUs for a local device (unless ``oversubscribe``):
    such a cell hangs or measures the scheduler. A board's or phone's cores are not known here."""
    try:
        counts = tuple(int(t) for t in csv_items(text))
    except ValueError:
        raise GhostbenchError(f"--threads takes integers, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise GhostbenchError(f"--threads must be >= 1, got {text!r}")
    cpus = usable_cpus()
    if device in LOCAL_DEVICES and max(counts) > cpus and not oversubscribe:
        raise GhostbenchError(
            f"--threads {max(counts)} is more than the {cpus} CPUs this process may use; "
            f"pass {OVERSUBSCRIBE_FLAG} to time it anyway"
        )
    return counts


def backend_options(pairs: list[str], backends: Sequence[str]) -> dict[str, dict[str, str]]:
    """Cell options per backend from ``KEY=VALUE`` (every backend) and ``BACKEND.KEY=VALUE``."""
    options: dict[str, dict[str, str]] = {backend: {} for backend in backends}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise GhostbenchError(f"--option takes KEY=VALUE or BACKEND.KEY=VALUE, got {pair!r}")
        scope, dot, name = key.rpartition(".")
        if dot and scope not in options:
            raise GhostbenchError(
                f"--option {pair}: {scope!r} is not one of --backends {', '.join(backends)}"
            )
        for backend in [scope] if dot else backends:
            options[backend][name] = value.strip()
    return options


FRESH_WORKERS_HELP = (
    "start every window in a fresh Python process instead of forking CPU windows from a warm "
    "server that has the backend's library imported, or running a backend's CUDA windows in turn in "
    "one long-lived worker that is replaced after any failed window (slower)"
)


MODELS_HELP = (
    "comma-separated: registry names or wildcards (ghostnet_*), your own package.module:callable or "
    "path/to/file.py:callable returning an nn.Module, or a .onnx / .tflite file; NAME=... names one "
    "(docs/own-models.md)"
)


def add_own_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--input-size`` and ``--accuracy``: what a user's own model may need besides its reference."""
    parser.add_argument(
        "--input-size",
        type=int,
        metavar="PX",
        help="image size of your own models (a callable, or a file that takes any size); default: the "
        "callable's input_size attribute, else 224",
    )
    parser.add_argument(
        "--accuracy",
        type=Path,
        metavar="CSV",
        help="top-1 of your own or plugin models: a CSV with columns model, top1 (percent), source",
    )


def own_models(items: Sequence[str], args: argparse.Namespace) -> tuple[str, ...]:
    """Register the user's models among ``items`` (and ``--accuracy``) in this process and its
    children; returns the items with each reference replaced by its model's name."""
    from ghostbench.models import user

    if not any(user.is_reference(item) for item in items) and args.accuracy is None:
        if args.input_size is not None:
            raise GhostbenchError("--input-size applies to your own models (module:callable or a file)")
        user.deactivate()
        return tuple(items)
    return tuple(user.activate(items, input_size=args.input_size, accuracy=args.accuracy))
