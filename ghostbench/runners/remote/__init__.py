"""Windows measured on another machine: an ARM board over SSH (``ssh.py``) or a phone over adb
(``adb.py``). Each gives ``measure.measure`` a ``spawn(payload, *, timeout_s) -> WindowOutcome`` in
place of ``worker.spawn``, so rounds, results rows, the store, ``--quick`` and ``--resume`` are
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
    from ghostbench.bench.cell import Cell
    from ghostbench.bench.plan import Profile
    from ghostbench.runners.worker import WindowOutcome

Spawn = Callable[..., "WindowOutcome"]
# What a board's worker bundle (bundle.FILES: no torch) and a phone's benchmark_model can time.
BACKENDS: dict[str, tuple[str, ...]] = {"pi": ("tflite", "onnxruntime", "null"), "android": ("tflite",)}
# Where ``make bench DEVICE=android`` finds TFLite's benchmark_model binary for the phone.
BENCHMARK_MODEL_ENV = "GHOSTBENCH_BENCHMARK_MODEL"


def remote_spawn(
    profile: Profile,
    *,
    host: str | None = None,
    serial: str | None = None,
    benchmark_model: Path | None = None,
) -> Spawn:
    """Connect to the profile's board (``host``) or phone (``serial``) and return its ``spawn``.

    Fails at once, before anything is exported or measured, with what to pass: no ``--host`` for
    the Pi, no phone attached, an unreachable board, a refused login. The connection is closed
    (and a phone's pushed files removed) when the process exits.
    """
    from ghostbench.errors import GhostbenchError

    if profile.remote == "ssh":
        from ghostbench.runners.remote.ssh import SshBoard, SshTarget

        if not host:
            raise GhostbenchError(
                f"DEVICE={profile.name} runs on a board over SSH: say which one with "
                f"make bench DEVICE={profile.name} HOST=user@board (ghostbench bench --device "
                f"{profile.name} --host user@board)"
            )
        board = SshBoard.connect(SshTarget.parse(host))
        atexit.register(board.close)
        return board.spawn
    if profile.remote == "adb":
        from ghostbench.runners.remote.adb import AdbPhone

        given = os.environ.get(BENCHMARK_MODEL_ENV)
        binary = benchmark_model or (Path(given) if given else None)
        phone = AdbPhone.connect(serial=serial, benchmark_model=binary)
        atexit.register(phone.close)
        return phone.spawn
    raise GhostbenchError(f"profile {profile.name!r} has no remote kind {profile.remote!r}")


def check_cell(cell: Cell) -> None:
    """What this side can tell about a cell for a board or phone before anything is exported: a
    backend it can run and options that backend knows. The rest (libraries) is checked there."""
    from ghostbench.errors import GhostbenchError
    from ghostbench.runners import runner_class

    allowed = BACKENDS[cell.device]
    if cell.backend not in allowed:
        raise GhostbenchError(
            f"the {cell.device} profile runs {', '.join(allowed)} cells, not {cell.backend!r}"
        )
    if cell.device == "android":
        from ghostbench.runners.remote.adb import OPTIONS as known
    else:
        known = runner_class(cell.backend).OPTIONS
    unknown = sorted(set(cell.options) - set(known))
    if unknown:
        valid = ", ".join(known) or "none"
        raise GhostbenchError(
            f"no option {', '.join(unknown)} for {cell.backend} on {cell.device}; valid: {valid}"
        )
