"""Whole-file writes that a reader, a crash or Ctrl-C never sees half done: results, cache sidecars,
reports, comparison files. Each goes to a temporary sibling, then ``os.replace``-s the target."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ghostbench.core.errors import GhostbenchError

# mkstemp makes files private; results, artifacts and reports are meant to be read by other tools.
FILE_MODE = 0o644


def write(path: str | os.PathLike, writer: Callable[[Path], object]) -> Path:
    """Let ``writer(tmp)`` fill a temporary sibling of ``path``, then move it into place. An OS error
    (a read-only folder, a full disk, a directory in the way) is a one-line :class:`GhostbenchError`."""
    target = Path(path)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(name)
        writer(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise GhostbenchError(f"cannot write {target}: {exc.strerror or exc}") from exc
        raise
    return target


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(path: str | os.PathLike, data: bytes | memoryview) -> Path:
    return write(path, lambda tmp: tmp.write_bytes(data))
