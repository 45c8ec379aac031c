"""Parsing of the comma-separated options ``bench`` and ``run`` share (one message for one mistake)."""

from __future__ import annotations

from collections.abc import Sequence

from ghostbench.core.errors import GhostbenchError


def csv_items(text: str) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def thread_counts(text: str) -> tuple[int, ...]:
    """``--threads 1,4`` -> ``(1, 4)``; anything but positive integers is a one-line error."""
    try:
        counts = tuple(int(t) for t in csv_items(text))
    except ValueError:
        raise GhostbenchError(f"--threads takes integers, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise GhostbenchError(f"--threads must be >= 1, got {text!r}")
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
