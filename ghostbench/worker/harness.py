"""The timing loop of one measurement window: load, first inference, warm-up until the latency
settles, then timed iterations until the median is known to +/- ``target`` or the time cap hits.

The harness owns the clock and the stopping rule; the runner only times single inferences
(mlperf loadgen's split). Iterations run in blocks sized to about ``check_interval_s``, so the
stopping rule (an O(n) partition) runs a few times a second whatever the model's latency, and the
per-iteration cost is one call and one append to an ``array('q')``. Nothing is logged, allocated
per sample beyond that, or computed inside a block.

The +/- 1% rule alone stops too early on a noisy machine (it was met after 30-70 iterations while
the median was still 14-22% high), so it also needs ``min_samples`` and ``min_time_s``.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ghostbench.core import stats
from ghostbench.core.window import HarnessConfig, WindowResult

if TYPE_CHECKING:
    from ghostbench.core.artifact import Artifact
    from ghostbench.core.cell import Cell
    from ghostbench.runners.base import Runner

Clock = Callable[[], int]
NS = 1_000_000_000


def _block_size(per_iteration_ns: float, config: HarnessConfig, room: int) -> int:
    """Iterations that fill about one check interval at the last block's pace."""
    per_block = int(config.check_interval_s * NS / max(per_iteration_ns, 1))
    return max(1, min(per_block, room))


class _Blocks:
    """Single inferences in blocks of about one check interval at the last block's pace (ns per
    iteration, loop included), which carries over from warm-up to the timed phase."""

    def __init__(self, run_once: Callable[[], int], pace: float, config: HarnessConfig, clock: Clock) -> None:
        self.run_once, self.pace, self.config, self.clock = run_once, pace, config, clock

    def phase(self, samples: array) -> Iterator[int]:
        """Append blocks to ``samples``; after each, yield the ns since the phase began. The caller's
        stopping rule runs between blocks, never inside one."""
        run_once, clock = self.run_once, self.clock
        start = clock()
        while True:
            block = _block_size(self.pace, self.config, self.config.max_samples - len(samples))
            block_start = clock()
            for _ in range(block):
                samples.append(run_once())
            now = clock()
            self.pace = (now - block_start) / block
            yield now - start


def measure_window(
    runner: Runner,
    cell: Cell,
    artifact: Artifact | None,
    config: HarnessConfig,
    *,
    seed: int = 0,
    clock: Clock = time.perf_counter_ns,
) -> WindowResult:
    """Load, prepare and time ``runner`` for one window. ``clock`` is injectable so tests can drive
    the stopping rule with planned latencies."""
    start = clock()
    runner.load(cell, artifact)
    load_ns = clock() - start
    runner.prepare(seed)
    first_ns = runner.run_once()

    blocks = _Blocks(runner.run_once, float(first_ns), config, clock)
    warm = array("q")
    warm_start = clock()
    is_settled = False
    for elapsed in blocks.phase(warm):
        full = len(warm) >= config.max_samples
        if full or (len(warm) >= config.warmup_min_iters and elapsed >= config.warmup_min_s * NS):
            is_settled = stats.settled(warm, config.settle_tolerance)
            if is_settled or full or elapsed >= config.warmup_max_s * NS:
                break
    warmup_ns = clock() - warm_start

    timed = array("q")
    timed_start = clock()
    halfwidth = float("inf")
    for elapsed in blocks.phase(timed):
        if len(timed) >= config.min_samples and elapsed >= config.min_time_s * NS:
            halfwidth = stats.relative_halfwidth(timed, config.confidence)
            if halfwidth <= config.target:
                stop = "converged"
                break
        if elapsed >= config.time_cap_s * NS:
            stop = "time_cap"
            break
        if len(timed) >= config.max_samples:
            stop = "max_samples"
            break
    timed_ns = clock() - timed_start
    if stop != "converged":
        halfwidth = stats.relative_halfwidth(timed, config.confidence)
    return WindowResult(
        samples_ns=timed.tolist(),
        load_ns=load_ns,
        first_ns=first_ns,
        warmup_n=len(warm),
        warmup_ns=warmup_ns,
        settled=is_settled,
        stop=stop,
        timed_ns=timed_ns,
        halfwidth=halfwidth,
    )
