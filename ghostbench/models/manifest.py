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
import sys
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path

from ghostbench.core import atomic
from ghostbench.core.errors import GhostbenchError

MANIFEST_VERSION = 2  # 2: no task field
PACKAGE_DIR = Path(__file__).resolve().parent
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Counts:
    """Exact complexity at batch 1 (``complexity.count_model``)."""

    params: int
    macs: int
    activations: int


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
    digest = hashlib.sha256()
    for dist in ("ghostbench", "torch"):
        digest.update(f"{dist}={_version(dist)}\0".encode())
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
            old = self._entries.get(name)
            entries[name] = Entry(
                name=name,
                family=spec.family,
                input_size=spec.input_size,
                top1=ref.top1 if ref else None,
                top1_source=ref.source if ref else "",
                identity=json.loads(json.dumps(source.identity(spec), default=str)),
                counts=old.counts if old else None,
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
            from ghostbench.models import complexity

            for name in missing:
                c = complexity.count_model(name)
                self._entries[name] = replace(
                    self._entries[name], counts=Counts(c.params, c.macs, c.activations)
                )
            self._write()
        return {n: self._entries[n].counts for n in names}
