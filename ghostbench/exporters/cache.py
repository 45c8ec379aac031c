"""Content-addressed artifact cache: exports are the slowest step of a run, so each is done once.

An entry lives in ``<root>/<model>/<format>-<precision>-<key[:16]>/`` as the exported file plus
``artifact.json`` (the :class:`Artifact` sidecar). The key hashes everything the file depends on:
the model's definition source (its module and the ghostbench modules it uses), the spec, the weight
seed (or a checkpoint's sha256, for trained weights), the export options and the exporter and
library versions. The file is written first and the sidecar last, each to a temporary name and
then ``os.replace``-d, so a crash leaves no entry that looks complete. A file whose sha256 no longer
matches its sidecar is rebuilt with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from ghostbench.core import atomic, locks
from ghostbench.core.artifact import Artifact, file_sha256
from ghostbench.models import source
from ghostbench.models.registry import ModelSpec

ENV_VAR = "GHOSTBENCH_CACHE_DIR"
SIDECAR = "artifact.json"
log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$GHOSTBENCH_CACHE_DIR`` if set, else the platform's user cache dir (``~/.cache/ghostbench``)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("ghostbench")) / "artifacts"


def cache_key(
    model: ModelSpec | dict,
    fmt: str,
    precision: str,
    *,
    seed: int,
    options: dict,
    versions: dict,
    source_key: str | None = None,
) -> str:
    """The content key of one export (hex sha256). ``model`` is a spec or its ``source.identity``
    (as the zoo manifest stores it); ``source_key`` chains derived artifacts to their input."""
    facts = source.identity(model) if isinstance(model, ModelSpec) else model
    payload = {
        **facts,
        "seed": seed,
        "format": fmt,
        "precision": precision,
        "options": options,
        "versions": versions,
        "source_key": source_key,
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


class ArtifactCache:
    """One cache root. Nothing is created on disk until an artifact is stored."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def entry_dir(self, model: str, fmt: str, precision: str, key: str) -> Path:
        return self.root / model / f"{fmt}-{precision}-{key[:16]}"

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Serialise builders of the same key across processes (advisory ``flock``; released on exit).
        A cache that cannot be written (read-only, not a folder) is a one-line error naming the fix."""
        lock = self.root / ".locks" / f"{key[:32]}.lock"
        hint = "; choose another cache with --cache-dir or $GHOSTBENCH_CACHE_DIR"
        with locks.hold(lock, wait=True, what=f"the artifact cache {self.root}", hint=hint):
            yield

    def lookup(self, model: str, fmt: str, precision: str, key: str, *, warn: bool = True) -> Artifact | None:
        """The cached artifact for ``key``, or None. A corrupt entry is reported (``warn``) and is a miss."""
        entry = self.entry_dir(model, fmt, precision, key)
        sidecar = entry / SIDECAR
        if not sidecar.is_file():
            return None
        where = f"cached {fmt} {precision} artifact of {model} ({entry})"
        report = log.warning if warn else log.debug
        try:
            artifact = Artifact.from_dict(json.loads(sidecar.read_text()))
        except (ValueError, TypeError, KeyError) as exc:
            report("%s has an unreadable sidecar (%s); rebuilding", where, exc)
            return None
        artifact = replace(artifact, path=entry / artifact.path.name)
        if artifact.key != key:
            report("%s records key %s, expected %s; rebuilding", where, artifact.key[:16], key[:16])
            return None
        if not artifact.path.is_file():
            report("%s: %s is missing; rebuilding", where, artifact.path.name)
            return None
        size = artifact.path.stat().st_size
        if size != artifact.size_bytes or file_sha256(artifact.path) != artifact.sha256:
            report(
                "%s: %s does not match its recorded sha256 (corrupt or truncated); rebuilding",
                where,
                artifact.path.name,
            )
            return None
        return artifact

    def new_file(self, model: str, fmt: str, precision: str, key: str, suffix: str) -> Path:
        """A fresh temporary path inside the entry dir, for an exporter to write into."""
        entry = self.entry_dir(model, fmt, precision, key)
        entry.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry, prefix=".export-", suffix=suffix)
        os.close(fd)
        return Path(tmp)

    def commit(self, tmp: Path, artifact: Artifact) -> Artifact:
        """Move the exported file into place, fill in its size and sha256, then write the sidecar."""
        entry = self.entry_dir(artifact.model, artifact.format, artifact.precision, artifact.key)
        final = entry / f"model{tmp.suffix}"
        (entry / SIDECAR).unlink(missing_ok=True)  # the entry is incomplete until the new sidecar lands
        os.chmod(tmp, atomic.FILE_MODE)
        os.replace(tmp, final)
        artifact = replace(artifact, path=final, sha256=file_sha256(final), size_bytes=final.stat().st_size)
        self.write_sidecar(artifact)
        return artifact

    def write_sidecar(self, artifact: Artifact) -> None:
        atomic.write_text(artifact.path.parent / SIDECAR, artifact.to_json() + "\n")

    def discard(self, tmp: Path) -> None:
        """Drop a failed export's temporary file (the entry keeps its export.log, which says why)."""
        tmp.unlink(missing_ok=True)
