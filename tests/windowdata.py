"""Shared by the worker and fork-server tests: a null window that takes a fraction of a second
once the worker is up, and the time limits around it."""

from __future__ import annotations

from ghostbench.core.cell import Cell
from ghostbench.core.window import HarnessConfig

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
