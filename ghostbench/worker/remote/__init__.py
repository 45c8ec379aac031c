"""Windows measured on another machine: an ARM board over SSH (``ssh.py``) or a phone over adb
(``adb.py``). Each gives ``measure.measure`` a ``spawn(payload, *, timeout_s) -> WindowOutcome`` in
place of ``process.spawn``, so rounds, results rows, the store, ``--quick`` and ``--resume`` are
those of a local run.

This package is also copied to the board inside the worker bundle, so importing it loads nothing.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ghostbench.core.window import WindowOutcome

Spawn = Callable[..., "WindowOutcome"]


def remote_spawn(
    remote: str,
    device: str,
    *,
    host: str | None = None,
    serial: str | None = None,
    benchmark_model: Path | None = None,
) -> Spawn:
    """Connect to the board (``remote="ssh"``, ``host``) or phone (``"adb"``, ``serial``) that runs
    the cells of ``device`` and return its ``spawn``.

    Fails at once, before anything is exported or measured, with what to pass: no ``--host`` for
    the Pi, no phone attached, an unreachable board, a refused login. The connection is closed
    (and a phone's pushed files removed) when the process exits.
    """
    from ghostbench.core.errors import GhostbenchError

    if remote == "ssh":
        from ghostbench.worker.remote.ssh import SshBoard, SshTarget

        if not host:
            raise GhostbenchError(
                f"DEVICE={device} runs on a board over SSH: say which one with "
                f"make bench DEVICE={device} HOST=user@board (ghostbench bench --device "
                f"{device} --host user@board)"
            )
        board = SshBoard.connect(SshTarget.parse(host))
        atexit.register(board.close)
        return board.spawn
    if remote == "adb":
        from ghostbench.worker.remote.adb import BENCHMARK_MODEL_ENV, AdbPhone

        given = os.environ.get(BENCHMARK_MODEL_ENV)
        binary = benchmark_model or (Path(given) if given else None)
        phone = AdbPhone.connect(serial=serial, benchmark_model=binary)
        atexit.register(phone.close)
        return phone.spawn
    raise GhostbenchError(f"device {device!r} has no remote kind {remote!r}")
