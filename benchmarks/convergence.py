"""Convergence: how long a typical CPU cell takes to reach the +/-1% interval of its median.

Runs ``--windows`` windows of one cell (default: GhostNet 1.0, ONNX Runtime CPU, 2 threads), each
in a fresh worker with the default harness settings, and reports per window the warm-up, the timed
phase until the stop, the stop reason and the interval reached. The figure is warm-up + timed time
(what the stopping rule costs), next to the worker's wall time (start-up and load included).

Acceptance: a window converges in under 10 s. Exit 1 if none did.

    .venv/bin/python benchmarks/convergence.py [--model ghostnet_100] [--threads 2] [--windows 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

from ghostbench.core.cell import Cell
from ghostbench.core.window import HarnessConfig
from ghostbench.exporters import export
from ghostbench.runners import ARTIFACT_FORMATS, worker

LIMIT_S = 10.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="ghostnet_100")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--windows", type=int, default=3)
    args = parser.parse_args(argv)
    cell = Cell(args.model, args.backend, threads=args.threads)
    fmt = ARTIFACT_FORMATS.get(args.backend)
    artifact = export(args.model, fmt, "fp32") if fmt else None
    config = HarnessConfig()
    print(
        f"{cell.key}: target +/-{config.target:.0%}, "
        f"at least {config.min_samples} samples and {config.min_time_s} s"
    )
    print(f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    to_converge = []
    for window in range(args.windows):
        outcome = worker.spawn(
            window.request(cell, artifact, config.to_dict(), seed=0, window=window), timeout_s=300
        )
        if not outcome.ok:
            print(f"window {window}: ERROR {outcome.error}")
            continue
        r = outcome.result["window"]
        warm_s, timed_s = r["warmup_ns"] / 1e9, r["timed_ns"] / 1e9
        median_ms = statistics.median(r["samples_ns"]) / 1e6
        print(
            f"window {window}: warm-up {r['warmup_n']} iterations {warm_s:.2f} s, "
            f"timed {len(r['samples_ns'])} iterations {timed_s:.2f} s -> {r['stop']} "
            f"(+/-{r['halfwidth']:.2%}), median {median_ms:.3f} ms, warm-up+timed {warm_s + timed_s:.2f} s, "
            f"worker wall {outcome.wall_s:.2f} s"
        )
        if r["stop"] == "converged":
            to_converge.append(warm_s + timed_s)
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not to_converge:
        print("FAIL: no window converged")
        return 1
    print(
        f"converged in {len(to_converge)}/{args.windows} windows; "
        f"median {statistics.median(to_converge):.2f} s (limit {LIMIT_S:g} s)"
    )
    ok = statistics.median(to_converge) < LIMIT_S
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
