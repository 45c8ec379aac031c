"""Harness overhead: what the timing loop costs per iteration around a runner that does nothing.

Runs the real ``measure_window`` in this process around the null runner for exactly ``--samples``
timed iterations (``min_samples`` = ``max_samples``). Reports, per iteration:

- wall: the timed phase's wall time / iterations (the loop, the call, the clock reads, the append);
- outside: wall minus what the runner's own clock saw, i.e. what the harness adds to a real model;
- the null runner's median in a worker process (the clock floor stored as run.json ``overhead_ns``).

Acceptance: wall < 2 us per iteration. Exit 1 if not.

    .venv/bin/python benchmarks/overhead.py [--samples 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from ghostbench.bench.measure import overhead_ns
from ghostbench.core.cell import Cell
from ghostbench.core.window import HarnessConfig
from ghostbench.runners.null_runner import NullRunner
from ghostbench.worker.harness import measure_window

LIMIT_NS = 2000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=1_000_000, help="timed iterations per repeat")
    parser.add_argument(
        "--repeats", type=int, default=3, help="windows to run (every one must stay under the limit)"
    )
    args = parser.parse_args(argv)
    config = HarnessConfig(
        warmup_min_iters=1000,
        warmup_min_s=0.05,
        warmup_max_s=0.5,
        min_samples=args.samples,  # with max_samples: exactly this many timed iterations
        min_time_s=0.0,
        time_cap_s=600.0,
        max_samples=args.samples,
    )
    walls, outsides = [], []
    for i in range(args.repeats):
        result = measure_window(NullRunner(), Cell("null", "null"), None, config)
        n = len(result.samples_ns)
        wall = result.timed_ns / n
        outside = (result.timed_ns - sum(result.samples_ns)) / n
        walls.append(wall)
        outsides.append(outside)
        print(
            f"repeat {i + 1}: {n:,} iterations in {result.timed_ns / 1e9:.3f} s: "
            f"wall {wall:.1f} ns/iteration, outside the runner's clock {outside:.1f} ns/iteration, "
            f"null median {statistics.median(result.samples_ns):.0f} ns"
        )
    floor = overhead_ns()
    best, worst = min(walls), max(walls)
    print(f"null runner median in a worker (run.json overhead_ns): {floor} ns")
    print(f"harness wall per iteration: best {best:.1f} ns, worst {worst:.1f} ns (limit {LIMIT_NS} ns)")
    ok = worst < LIMIT_NS
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
