"""The zoo's facts without importing torch: names, families, input sizes, exact complexity counts,
published top-1 and each model's export-key facts (``source.identity``), kept in a JSON file.

Everything in it is a function of the model definitions, so it is cached under a fingerprint of
them, computed by reading files, never by importing them: the bytes of every file of the
``ghostbench.models`` package (sources and the published-accuracy CSV), plus the versions of
ghostbench and torch (whose counters give the complexity). Change a model, a block or a figure and
the fingerprint changes: the next use rebuilds what it needs with torch (about 10 s for the whole
zoo here), then lists and cache hits go back to reading one file (``ghostbench models`` and
``ghostbench export`` on a cache hit, neither of which imports torch then). A definition outside
the package that a model uses (``source.model_modules``) is recorded with its sha256 and checked on
every load.

The file lives at ``<cache root>/zoo/manifest-<fingerprint[:16]>.json``; it is written atomically,
and a cache that cannot be written costs only the speed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from ghostbench.core import atomic
from ghostbench.core.errors import GhostbenchError

if TYPE_CHECKING:
    from ghostbench.models.model_file import ModelFile

MANIFEST_VERSION = 3  # 2: no task field; 3: user and plugin models, counts may be empty
PACKAGE_DIR = Path(__file__).resolve().parent
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Counts:
    """Exact complexity at batch 1 (``complexity.count_model``, or a file's graph,
    ``graph_counts``); a figure a file's graph does not give is None, with the reason in ``why``."""

    params: int | None
    macs: int | None
    activations: int | None
    why: str = ""


@dataclass(frozen=True)
class Entry:
    """One registered model's facts; ``counts`` is filled the first time something asks for it."""

    name: str
    family: str
    input_size: int
    top1: float | None
    top1_source: str
    identity: dict
    counts: Counts | None = None
    top1_kind: str = ""  # "published", or "given" (``--accuracy``)
    origin: str = ""  # ``ModelSpec.origin``: "" the zoo
    file: dict | None = None  # a model file's artifact facts (``ModelFile.artifact_facts``)

    @classmethod
    def from_dict(cls, data: dict) -> Entry:
        counts = data.get("counts")
        return cls(**{**data, "counts": Counts(**counts) if counts else None})


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def fingerprint() -> str:
    """sha256 of what the facts depend on, read from disk without importing any model code."""
    from ghostbench.models import user

    digest = hashlib.sha256()
    for dist in ("ghostbench", "torch"):
        digest.update(f"{dist}={_version(dist)}\0".encode())
    # The user's models of this command and the installed plugins (read, not imported).
    digest.update(f"{os.environ.get(user.ENV_VAR, '')}\0{user.entry_point_facts()}\0".encode())
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".csv") and "__pycache__" not in path.parts:
            digest.update(
                path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0"
            )
    return digest.hexdigest()


def _file_sha(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def file_facts(described: ModelFile) -> dict:
    """What the exporters need of a model file to time it as its own artifact, without torch."""
    return {
        "path": str(described.path),
        "format": described.format,
        "sha256": described.sha256,
        "precision": described.precision,
        "meta": described.meta(),
    }


def _count(name: str) -> Counts:
    """Complexity of one model: a file's from its graph, a network's from ``complexity``; a user's
    network that fails on its input size is a one-line error, not a traceback."""
    from ghostbench.models import complexity, model_file, registry

    spec = registry.get(name)
    if spec.file is not None:
        graph = model_file.counts(spec.file)
        return Counts(graph.params, graph.macs, graph.activations, graph.why)
    try:
        c = complexity.count_model(name)
    except Exception as exc:
        if not spec.origin or isinstance(exc, GhostbenchError):
            raise
        size = spec.input_size
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GhostbenchError(
            f"{name} ({spec.where}) fails on a 1x3x{size}x{size} input: {first}; "
            "give its input size with --input-size or the callable's input_size attribute"
        ) from None
    return Counts(c.params, c.macs, c.activations)


class Zoo:
    """The manifest of one cache root, loaded on creation; what it lacks is computed (with torch)
    on first use and saved."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / "zoo" / f"manifest-{fingerprint()[:16]}.json"
        self._entries: dict[str, Entry] = {}
        self._outside: dict[str, str] = {}  # definition files outside the package -> sha256
        self._dirty = False  # computed facts not yet saved: saved once a lookup succeeds
        self._read()

    def _read(self) -> None:
        try:
            data = json.loads(self.path.read_text())
            if data.get("version") != MANIFEST_VERSION:
                return
            outside = dict(data.get("outside", {}))
            if any(_file_sha(path) != sha for path, sha in outside.items()):
                return
            self._entries = {name: Entry.from_dict(e) for name, e in data["models"].items()}
            self._outside = outside
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if not isinstance(exc, FileNotFoundError):
                log.debug("zoo manifest %s unreadable (%s); rebuilding", self.path, exc)
            self._entries, self._outside = {}, {}

    def _write(self) -> None:
        self._dirty = False
        data = {
            "version": MANIFEST_VERSION,
            "outside": self._outside,
            "models": {name: asdict(e) for name, e in self._entries.items()},
        }
        try:
            atomic.write_text(self.path, json.dumps(data, indent=1, sort_keys=True))
        except GhostbenchError as exc:  # a read-only or full cache: slower next time, nothing worse
            log.debug("cannot write the zoo manifest %s: %s", self.path, exc)

    def _fill(self) -> None:
        """Every registered model's facts but counts: imports the model modules (and torch)."""
        from ghostbench.models import registry, source

        entries, outside = {}, {}
        for name in registry.names():
            spec = registry.get(name)
            ref = spec.reference
            for module in source.model_modules(spec):
                path = source.module_file(sys.modules[module])
                if path is not None and PACKAGE_DIR not in path.resolve().parents:
                    outside[str(path)] = _file_sha(str(path)) or ""
            if spec.file is not None:
                outside[str(spec.file.path)] = spec.file.sha256
            old = self._entries.get(name)
            entries[name] = Entry(
                name=name,
                family=spec.family,
                input_size=spec.input_size,
                top1=ref.top1 if ref else None,
                top1_source=ref.source if ref else "",
                identity=json.loads(json.dumps(source.identity(spec), default=str)),
                counts=old.counts if old else None,
                top1_kind=("given" if ref.source_kind == "given" else "published") if ref else "",
                origin=spec.origin,
                file=file_facts(spec.file) if spec.file is not None else None,
            )
        self._entries, self._outside = entries, outside
        self._dirty = True

    def _all(self) -> dict[str, Entry]:
        if not self._entries:
            self._fill()
        return self._entries

    def _save(self) -> None:
        """Write what was computed, after a lookup succeeded: a bad name leaves the cache untouched."""
        if self._dirty:
            self._write()

    def names(self) -> list[str]:
        from ghostbench.models.registry import natural_key

        names = sorted(self._all(), key=natural_key)
        self._save()
        return names

    def get(self, name: str) -> Entry:
        """One model's entry; an unknown name raises ``UnknownModelError`` as the registry does."""
        from ghostbench.models.registry import unknown_model

        entries = self._all()
        if name not in entries:
            raise unknown_model(name, entries)
        self._save()
        return entries[name]

    def select(
        self, include: str | list[str] = "*", exclude: tuple[str, ...] = (), family: str | None = None
    ) -> list[str]:
        """``registry.select``, from the manifest."""
        from ghostbench.models.registry import select_from

        chosen = select_from({n: e.family for n, e in self._all().items()}, include, exclude, family)
        self._save()
        return chosen

    def counts(self, names: list[str]) -> dict[str, Counts]:
        """Complexity of ``names``; those not in the manifest are counted now (torch) and saved."""
        missing = [n for n in names if self.get(n).counts is None]
        if missing:
            for name in missing:
                self._entries[name] = replace(self._entries[name], counts=_count(name))
            self._write()
        return {n: self._entries[n].counts for n in names}
