"""Repeatability: two back-to-back runs of the same cells give medians within 3%.

Each run is what ``ghostbench run`` does (``measure``: ``--rounds`` interleaved windows per cell,
each in a fresh worker). Default cells: GhostNet 1.0 on ONNX Runtime and LiteRT (XNNPACK), CPU,
2 threads. Prints each run's median and window spread per cell and the run-to-run difference.

Acceptance: |median(run 2) / median(run 1) - 1| < 3% for every cell. Exit 1 if not.

    .venv/bin/python benchmarks/repeatability.py [--models ghostnet_100] [--backends onnxruntime,tflite]
        [--threads 2] [--rounds 3] [--time-cap 5]
"""

from __future__ import annotations

import argparse
import os
import sys

from ghostbench.bench.measure import MeasureOptions, measure
from ghostbench.core.cell import Cell
from ghostbench.core.window import HarnessConfig
from ghostbench.exporters import export
from ghostbench.runners import ARTIFACT_FORMATS

LIMIT = 0.03


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="ghostnet_100")
    parser.add_argument("--backends", default="onnxruntime,tflite")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--time-cap", type=float, default=5.0, help="seconds per window (default 5)")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    cells = [
        Cell(model, backend, threads=args.threads)
        for model in args.models.split(",")
        for backend in args.backends.split(",")
    ]

    def artifact_for(cell: Cell):
        fmt = ARTIFACT_FORMATS.get(cell.backend)
        return export(cell.model, fmt, cell.precision) if fmt else None

    options = MeasureOptions(rounds=args.rounds, harness=HarnessConfig(time_cap_s=args.time_cap))
    runs: list[dict[str, dict]] = []
    for i in range(args.runs):
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        rows = measure(cells, run_id=f"repeatability-{i}", options=options, artifact_for=artifact_for)
        runs.append({row["cell"]: row for row in rows})
        print(f"run {i + 1} (load average before: {load})")
        for row in rows:
            if row["status"] != "ok":
                print(f"  {row['cell']}: ERROR {row['error'].splitlines()[0]}")
                continue
            print(
                f"  {row['cell']} [{row['runtime']} {row['runtime_version']}]: "
                f"median {row['median_ms']:.3f} ms "
                f"(95% CI {row['ci_low_ms']:.3f}-{row['ci_high_ms']:.3f} ms), n={row['n']}, "
                f"window spread {row['window_spread']:.1%}, flags: {row['flags'] or '-'}"
            )
    ok = True
    print("run-to-run difference of the median (run N vs run 1):")
    for cell in cells:
        medians = [run[cell.key].get("median_ms") for run in runs]
        if any(m is None or m != m for m in medians):
            print(f"  {cell.key}: a run failed")
            ok = False
            continue
        diffs = [m / medians[0] - 1 for m in medians[1:]]
        worst = max(abs(d) for d in diffs)
        ok &= worst < LIMIT
        shown = ", ".join(f"{d:+.2%}" for d in diffs)
        print(f"  {cell.key}: {' / '.join(f'{m:.3f} ms' for m in medians)} -> {shown} (limit +/-{LIMIT:.0%})")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
