"""Models that are not in the zoo: the user's own, named in ``--models``, and those of installed
plugin packages.

A ``--models`` item is one of:

- a registry name or wildcard (``ghostnet_*``): the zoo, and plugin models;
- ``package.module:callable`` or ``path/to/file.py:callable``: a function returning an
  ``nn.Module``, built, exported, parity-checked and timed like a zoo model;
- a path to an ``.onnx`` or ``.tflite`` file: timed as it is on the backends that read it.

Any of the last two may be prefixed ``NAME=`` to name the model; otherwise the name is the
callable's (or the file's stem) in snake_case. Every process of one command (export workers,
window workers, parity children) must know the same models, so :func:`activate` writes what the
command was given to ``$GHOSTBENCH_USER_MODELS`` and the registry of each process registers them
from it (:func:`specs_from_env`), as it registers plugins' entry points (:func:`plugin_specs`).
"""

from __future__ import annotations

import csv
import importlib
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import cache
from importlib import metadata
from pathlib import Path

from ghostbench.core.errors import GhostbenchError
from ghostbench.models import model_file
from ghostbench.models.registry import ModelSpec, PublishedMetric

ENV_VAR = "GHOSTBENCH_USER_MODELS"
ENTRY_POINT_GROUP = "ghostbench.models"
USER_FAMILY = "user"
DEFAULT_INPUT_SIZE = 224
# Families the verdict rules give a role (the claims' subjects and their baselines): only zoo
# models may carry them, so a user's model never changes which models count as C-Ghost, G-Ghost,
# plain RegNetX or a lightweight baseline (``reports/verdict.py``).
CLAIM_FAMILIES: tuple[str, ...] = ("c-ghost", "g-ghost", "regnet", "mobilenet", "shufflenet")
ACCURACY_COLUMNS: tuple[str, ...] = ("model", "top1", "source")


def is_reference(item: str) -> bool:
    """Whether a ``--models`` item names a user model (a callable or a file), not a registry name."""
    ref = item.partition("=")[2] if "=" in item else item
    return ":" in ref or Path(ref).suffix.lower() in (*model_file.FORMATS, ".py")


def snake_name(text: str) -> str:
    """A registry-style name from a callable's or file's name: ``MyNet-v2`` -> ``mynet_v2``."""
    name = re.sub(r"[^a-z0-9]+", "_", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text).lower()).strip("_")
    return name if re.match(r"[a-z]", name) else f"m_{name}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _import(module_part: str, base: Path) -> object:
    """The module of a reference: a dotted name (importable from ``base``, the command's working
    directory, as ``python -m`` would) or a ``.py`` file (its folder goes on ``sys.path``, so its
    own sibling imports work)."""
    if module_part.endswith(".py") or os.sep in module_part or "/" in module_part:
        path = (base / module_part).resolve()
        if not path.is_file():
            raise GhostbenchError(f"module file not found: {path}")
        folder, module_name = str(path.parent), path.stem
        loaded = sys.modules.get(module_name)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() != path:
            raise GhostbenchError(
                f"{path}: a module named {module_name!r} is already loaded from "
                f"{getattr(loaded, '__file__', 'elsewhere')}; rename the file"
            )
        if folder not in sys.path:
            sys.path.insert(0, folder)
    else:
        module_name = module_part
        if str(base) not in sys.path:  # after installed packages: a local folder shadows nothing
            sys.path.append(str(base))
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise GhostbenchError(f"cannot import {module_part}: {_first_line(exc)}") from None


def load_callable(ref: str, base: Path) -> Callable:
    """The callable ``module:attr`` names (``attr`` may be dotted: ``Class.factory``)."""
    module_part, _, attr = ref.rpartition(":")
    if not module_part or not attr:
        raise GhostbenchError(f"{ref!r}: expected package.module:callable or path/to/file.py:callable")
    obj = _import(module_part, base)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise GhostbenchError(f"{module_part} has no {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        kind = type(obj).__name__
        raise GhostbenchError(f"{ref}: {attr} is a {kind}, not a function returning an nn.Module")
    return obj


def _family(family: object, where: str) -> str:
    if not isinstance(family, str) or not re.fullmatch(r"[a-z][a-z0-9-]*", family):
        raise GhostbenchError(f"{where}: family {family!r} is not a lower-case name like 'my-nets'")
    if family in CLAIM_FAMILIES:
        raise GhostbenchError(
            f"{where}: family {family!r} belongs to the zoo (the verdicts give it a role); "
            f"use your own, e.g. {USER_FAMILY!r}"
        )
    return family


def _size(value: object, where: str) -> int:
    if type(value) is not int or not 16 <= value <= 4096:
        raise GhostbenchError(f"{where}: input size {value!r} is not a number of pixels from 16 to 4096")
    return value


def builder_spec(name: str | None, ref: str, base: Path, input_size: int | None) -> ModelSpec:
    """The spec of ``module:callable``: input size from ``--input-size``, else the callable's
    ``input_size`` attribute, else 224; family from its ``family`` attribute, else ``user``."""
    builder = load_callable(ref, base)
    where = f"your {ref}"
    size = input_size if input_size is not None else getattr(builder, "input_size", DEFAULT_INPUT_SIZE)
    return ModelSpec(
        name=name or snake_name(getattr(builder, "__name__", ref.rpartition(":")[2])),
        family=_family(getattr(builder, "family", USER_FAMILY), where),
        builder=builder,
        input_size=_size(size, where),
        origin=f"user {ref}",
    )


def _no_builder(**_: object) -> None:
    raise GhostbenchError("this model is an ONNX or TFLite file: it has no PyTorch definition to build")


def file_spec(name: str | None, ref: str, base: Path, input_size: int | None) -> ModelSpec:
    """The spec of a model file: described (input, precision) from the graph, no builder."""
    described = model_file.describe(base / ref, input_size)
    return ModelSpec(
        name=name or snake_name(described.path.stem),
        family=USER_FAMILY,
        builder=_no_builder,
        input_size=described.image_size,
        num_classes=described.num_classes or 0,
        task="classification" if described.num_classes else "other",
        origin=f"user {described.path}",
        file=described,
    )


def resolve(item: str, base: Path, input_size: int | None) -> ModelSpec:
    """The spec of one user ``--models`` item (see the module docstring)."""
    name, _, ref = item.rpartition("=") if "=" in item.partition(":")[0] else ("", "", item)
    if name and not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise GhostbenchError(f"{item!r}: model names are snake_case, like my_net")
    if Path(ref).suffix.lower() in model_file.FORMATS:
        return file_spec(name or None, ref, base, input_size)
    return builder_spec(name or None, ref, base, input_size)


def read_accuracy(path: Path) -> dict[str, PublishedMetric]:
    """``--accuracy FILE.csv``: columns model, top1 (percent) and source, one row per model."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
            header = rows[0].keys() if rows else []
    except OSError as exc:
        raise GhostbenchError(f"cannot read --accuracy {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise GhostbenchError(f"--accuracy {path} is not a CSV file: {_first_line(exc)}") from None
    missing = [c for c in ACCURACY_COLUMNS if c not in header]
    if not rows or missing:
        raise GhostbenchError(
            f"--accuracy {path} needs a header and rows with columns {', '.join(ACCURACY_COLUMNS)}"
            + (f"; missing {', '.join(missing)}" if rows else "")
        )
    metrics: dict[str, PublishedMetric] = {}
    for line, row in enumerate(rows, 2):
        model, source = (row["model"] or "").strip(), (row["source"] or "").strip()
        try:
            top1 = float(row["top1"])
        except (TypeError, ValueError):
            top1 = math.nan
        if not 0 < top1 <= 100:
            raise GhostbenchError(f"--accuracy {path} line {line}: top1 {row['top1']!r} is not a percentage")
        if not model or not source:
            raise GhostbenchError(f"--accuracy {path} line {line}: a row needs a model and a source")
        if model in metrics:
            raise GhostbenchError(f"--accuracy {path} line {line}: {model} has a row already")
        metrics[model] = PublishedMetric(top1=top1, source=source, source_kind="given")
    return metrics


def activate(
    items: Sequence[str], *, input_size: int | None = None, accuracy: Path | None = None
) -> list[str]:
    """Register the user's models of one command in this process and its children; returns the
    items with each user reference replaced by its model's name (registry patterns unchanged)."""
    from ghostbench.models import registry

    base = Path.cwd()
    refs = [item for item in items if is_reference(item)]
    config = {
        "base": str(base),
        "refs": refs,
        "input_size": input_size,
        "accuracy": str(Path(accuracy).resolve()) if accuracy is not None else None,
    }
    os.environ[ENV_VAR] = json.dumps(config, sort_keys=True)
    registry.reload_user_models()
    names = iter(spec.name for spec in specs_from_env())
    return [next(names) if is_reference(item) else item for item in items]


def deactivate() -> None:
    """No user models in this process and its children (a command that was given none)."""
    from ghostbench.models import registry

    if os.environ.pop(ENV_VAR, None) is not None:
        registry.reload_user_models()


def restore(config: str | None) -> None:
    """Register the user's models a run recorded (``bench --resume``): :func:`activate`'s config."""
    from ghostbench.models import registry

    if config:
        os.environ[ENV_VAR] = config
        registry.reload_user_models()
    else:
        deactivate()


def recorded() -> str | None:
    """This command's user models as :func:`restore` takes them (stored in ``run.json``)."""
    return os.environ.get(ENV_VAR)


def specs_from_env() -> list[ModelSpec]:
    """The user's models :func:`activate` recorded in the environment, with their ``--accuracy``
    rows; an ``--accuracy`` row for a model that is not the user's or a plugin's is an error."""
    text = os.environ.get(ENV_VAR)
    if not text:
        return []
    config = json.loads(text)
    base = Path(config["base"])
    specs = [resolve(ref, base, config["input_size"]) for ref in config["refs"]]
    if config.get("accuracy"):
        given = read_accuracy(Path(config["accuracy"]))
        yours = {spec.name for spec in specs} | {spec.name for spec in plugin_specs()}
        strangers = sorted(set(given) - yours)
        if strangers:
            raise GhostbenchError(
                f"--accuracy {config['accuracy']} names {', '.join(strangers)}: not one of your models "
                f"or a plugin's ({', '.join(sorted(yours)) or 'none given'}); zoo models keep their "
                "published top-1"
            )
        specs = [replace(s, accuracy=(given[s.name],)) if s.name in given else s for s in specs]
    return specs


def _as_specs(obj: object, where: str) -> list[ModelSpec]:
    if callable(obj) and not isinstance(obj, ModelSpec):
        obj = obj()
    items = [obj] if isinstance(obj, ModelSpec) else obj
    if not isinstance(items, Iterable) or isinstance(items, (str, bytes)):
        raise GhostbenchError(f"{where} gives a {type(obj).__name__}, not ModelSpecs")
    specs = list(items)
    wrong = [type(s).__name__ for s in specs if not isinstance(s, ModelSpec)]
    if wrong:
        raise GhostbenchError(f"{where} gives a {wrong[0]}, not a ghostbench.models.registry.ModelSpec")
    return specs


@cache
def plugin_specs() -> tuple[ModelSpec, ...]:
    """Every ModelSpec of the installed packages' ``ghostbench.models`` entry points. An entry
    point names a ModelSpec, an iterable of them, or a function returning either; each spec's
    published top-1 needs a source."""
    specs: list[ModelSpec] = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry.dist.name if entry.dist is not None else entry.value
        where = f"plugin {dist} (entry point {entry.name} = {entry.value})"
        try:
            loaded = entry.load()
            found = _as_specs(loaded, where)
        except GhostbenchError:
            raise
        except Exception as exc:
            raise GhostbenchError(f"{where} does not load: {_first_line(exc)}") from None
        for spec in found:
            _family(spec.family, f"{where}, model {spec.name}")
            for metric in spec.accuracy:
                if metric.top1 is not None and not metric.source:
                    raise GhostbenchError(f"{where}, model {spec.name}: a top-1 without its source")
            specs.append(replace(spec, origin=f"plugin {dist}"))
    return tuple(specs)


def entry_point_facts() -> list[str]:
    """The installed plugins' entry points and versions, read without importing them (the zoo
    manifest's fingerprint: installing or upgrading a plugin changes it)."""
    facts = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = f"{entry.dist.name}={entry.dist.version}" if entry.dist is not None else ""
        facts.append(f"{dist} {entry.name}={entry.value}")
    return sorted(facts)
