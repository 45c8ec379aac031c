"""Shared by the worker and fork-server tests: a null window that takes a fraction of a second
once the worker is up, and the time limits around it."""

from __future__ import annotations

from collections.abc import Callable

from ghostbench.core.cell import Cell
from ghostbench.core.window import HarnessConfig, WindowOutcome

QUICK = HarnessConfig(
    warmup_min_iters=10,
    warmup_min_s=0.01,
    warmup_max_s=0.1,
    min_samples=100,
    min_time_s=0.01,
    time_cap_s=0.2,
    max_samples=20_000,
)
# Long enough for a healthy worker to start and finish on a loaded machine (about 2 s idle).
TIMEOUT_S = 60.0
# The hang's limit: whatever the machine's speed, a hung worker ends as a timeout at this mark.
HANG_TIMEOUT_S = 4.0


def null_cell(fault: str | None = None, **kwargs: object) -> Cell:
    """A null-runner cell, with a fault to inject (``runners/null_runner.py``) if given."""
    return Cell("ghostnet_050", "null", options={"fault": fault} if fault else {}, **kwargs)


FAULTS: tuple[str, ...] = ("raise", "segfault", "oom", "sigkill", "hang")


def measure_every_fault(spawn: Callable[..., WindowOutcome]) -> list[dict]:
    """Two rounds of one cell per null-runner fault, then a healthy cell, through ``spawn``; checks
    that each fault became its own error row with the right reason and the healthy cell its row."""
    from ghostbench.bench.measure import MeasureOptions, measure

    cells = [null_cell(f) for f in FAULTS] + [null_cell()]
    options = MeasureOptions(rounds=2, harness=QUICK, timeout_s=HANG_TIMEOUT_S)
    rows = measure(cells, run_id="run", options=options, spawn=spawn)
    errors = {f: r["error"] for f, r in zip(FAULTS, rows, strict=False)}
    assert errors["raise"].startswith("InjectedFault: injected fault")
    assert errors["segfault"].startswith("worker died from SIGSEGV") and "run_once" in errors["segfault"]
    assert errors["oom"].startswith("MemoryError")
    assert errors["sigkill"].startswith("worker died from SIGKILL (out of memory?)")
    assert errors["hang"].startswith(f"worker timed out after {HANG_TIMEOUT_S:g} s and was killed")
    healthy = rows[-1]
    assert healthy["status"] == "ok" and healthy["windows"] == 2 and healthy["n"] > 0
    return rows
