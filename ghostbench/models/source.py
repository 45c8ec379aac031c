"""What a model *is*, as bytes: the source files that define it and the facts an export's cache key
hashes about it. Found by walking module globals, so a change in ``blocks.py`` changes the key of
every model built from it; used by the export cache and by the zoo manifest (``manifest.py``),
which stores these facts so a cache hit needs no torch.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ghostbench.models.registry import ModelSpec


def module_file(module: ModuleType) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file) if file and file.endswith(".py") else None


def model_modules(spec: ModelSpec) -> list[str]:
    """The module defining ``spec`` plus every ghostbench (or same-package) module it uses,
    transitively; none for a model that is a file."""
    if spec.file is not None:
        return []
    root = importlib.import_module(spec.module)
    prefixes = ("ghostbench.", root.__name__.split(".")[0] + ".")
    seen: dict[str, ModuleType] = {}
    todo = [root]
    while todo:
        module = todo.pop()
        if module.__name__ in seen or module_file(module) is None:
            continue
        seen[module.__name__] = module
        for value in vars(module).values():
            name = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
            if (
                isinstance(name, str)
                and name.startswith(prefixes)
                and name not in seen
                and name in sys.modules
            ):
                todo.append(sys.modules[name])
    return sorted(seen)


def model_source_digest(spec: ModelSpec) -> str:
    """sha256 over the source files of :func:`model_modules` (name and bytes of each); a model
    file's own sha256."""
    if spec.file is not None:
        return spec.file.sha256
    digest = hashlib.sha256()
    for name in model_modules(spec):
        path = module_file(sys.modules[name])
        assert path is not None
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def module_digest(module_name: str) -> str:
    """sha256 of one module's source (an exporter's own code is part of its artifacts' keys)."""
    path = module_file(importlib.import_module(module_name))
    assert path is not None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def identity(spec: ModelSpec) -> dict:
    """The model's part of an export's cache key: registered name, builder, its options, input size,
    classes, definition source and, for trained weights from a file, the file's sha256."""
    from ghostbench.models import weights

    if spec.file is not None:  # the file is the model: its bytes and the input it is timed at
        shape = list(spec.file.input_shape)
        return {"model": spec.name, "file_sha256": spec.file.sha256, "input_shape": shape}
    facts = {
        "model": spec.name,
        "builder": f"{spec.module}.{spec.builder.__qualname__}",
        "kwargs": spec.kwargs,
        "input_size": spec.input_size,
        "num_classes": spec.num_classes,
        "model_source": model_source_digest(spec),
    }
    if isinstance(spec, weights.CheckpointSpec):  # ghostbench evaluate --weights
        facts["weights"] = {"sha256": spec.weights_sha256, "loader": module_digest(weights.__name__)}
    return facts
