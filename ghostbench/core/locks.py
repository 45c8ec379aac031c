"""Advisory file locks between ghostbench processes: builders of one cache entry wait for each other,
and writers of one results folder refuse each other (two runs must never mix their rows).

``flock`` locks belong to the open file, so the kernel drops them when the holder exits or is
killed: a stale lock cannot outlive its process. Not POSIX (no ``fcntl``): no locking.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ghostbench.core.errors import GhostbenchError


class LockHeld(GhostbenchError):
    """Another process holds the lock (only raised when not waiting)."""


@contextlib.contextmanager
def hold(path: str | os.PathLike, *, wait: bool, what: str, hint: str = "") -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (made if missing) for the ``with`` block.

    ``wait=False`` raises :class:`LockHeld` naming the holder's pid at once instead of blocking.
    ``what`` names the locked thing in errors, e.g. ``"the results folder results/x"``; ``hint``
    ends the error when the lock file cannot be made (a read-only folder)."""
    lock = Path(path)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fh = lock.open("a+")
    except OSError as exc:
        raise GhostbenchError(f"cannot write {what}: {exc.strerror or exc}{hint}") from None
    with fh:
        try:
            import fcntl
        except ImportError:
            yield
            return
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise LockHeld(f"another ghostbench process (pid {holder}) is writing {what}") from None
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
