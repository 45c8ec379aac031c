"""Where a window's wall time goes: a fresh worker per window against windows forked from a warm
server (``ghostbench.worker.forkserver``) and, with ``--session``, windows run in turn in one
long-lived session worker per backend (``ghostbench.worker.session``, what CUDA cells get; here on
CPU cells), interleaved, on the same cells and artifacts.

Per window, from the worker's own answer and the parent's clock: start (process start, imports,
machine probes, the answer: wall minus everything below), load (session, interpreter or model
build), first inference, warm-up, timed. Then the cost of the imports alone, each in a fresh
interpreter. Prints Markdown tables (medians over the rounds) and the machine's load average.

    python benchmarks/window_cost.py --rounds 5
    python benchmarks/window_cost.py --backends torch --session --min-time 0.5 --time-cap 2 --warmup-min 0.2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from ghostbench.core.cell import ARTIFACT_FORMATS, Cell
from ghostbench.core.window import HarnessConfig, request
from ghostbench.exporters import export
from ghostbench.worker import pool, process

PHASES = ("wall", "start", "load", "first", "warmup", "timed")
IMPORTS = {
    "interpreter": "pass",
    "worker (numpy, scipy.stats)": "import ghostbench.worker.process",
    "+ onnxruntime": "import ghostbench.worker.process, onnxruntime",
    "+ ai_edge_litert": "import ghostbench.worker.process, ai_edge_litert.interpreter",
    "+ torch and the model zoo": "import ghostbench.worker.process, torch; "
    "from ghostbench.models import registry; registry.names()",
}


def phases(outcome: object) -> dict[str, float]:
    if not outcome.ok:
        raise SystemExit(f"window failed: {outcome.error}")
    w = outcome.result["window"]
    load, first = w["load_ns"] / 1e9, w["first_ns"] / 1e9
    warmup, timed = w["warmup_ns"] / 1e9, w["timed_ns"] / 1e9
    start = outcome.wall_s - load - first - warmup - timed
    return {
        "wall": outcome.wall_s,
        "start": start,
        "load": load,
        "first": first,
        "warmup": warmup,
        "timed": timed,
    }


def import_seconds(code: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="ghostnet_100,mobilenetv3_large_100")
    parser.add_argument("--backends", default="torch,onnxruntime,tflite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--time-cap", type=float, default=4.0, help="bench's default: 4 s")
    parser.add_argument("--min-time", type=float, default=1.0, help="bench's default: 1 s")
    parser.add_argument("--warmup-min", type=float, default=0.5, help="least warm-up seconds (default 0.5)")
    parser.add_argument("--session", action="store_true", help="also time windows in a session worker")
    args = parser.parse_args()
    harness = HarnessConfig(
        time_cap_s=args.time_cap, min_time_s=args.min_time, warmup_min_s=args.warmup_min
    ).to_dict()
    cells = [Cell(m, b) for m in args.models.split(",") for b in args.backends.split(",")]
    artifacts = {
        c.key: export(c.model, ARTIFACT_FORMATS[c.backend]) if c.backend in ARTIFACT_FORMATS else None
        for c in cells
    }
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    seen: dict[tuple[str, str], list[dict[str, float]]] = {}
    with (
        pool.Pool() as forking,
        pool.Pool(enabled=False, sessions=True, session_devices=("cpu",)) as sessions,
    ):
        spawners = {"fresh": process.spawn, "forked": forking.spawn}
        if args.session:
            spawners["session"] = sessions.spawn
        modes = list(spawners)
        for r in range(args.rounds):
            order = modes[r % len(modes) :] + modes[: r % len(modes)]
            for cell in cells:
                payload = request(cell, artifacts[cell.key], harness, seed=0, window=r)
                for mode in order:
                    seen.setdefault((cell.key, mode), []).append(
                        phases(spawners[mode](payload, timeout_s=300))
                    )
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    print("| cell | worker | " + " | ".join(f"{p} (s)" for p in PHASES) + " | timed / wall |")
    print("|" + " --- |" * (len(PHASES) + 3))
    for (key, mode), runs in seen.items():
        med = {p: statistics.median(run[p] for run in runs) for p in PHASES}
        cols = " | ".join(f"{med[p]:.2f}" for p in PHASES)
        print(f"| {key} | {mode} | {cols} | {med['timed'] / med['wall']:.0%} |")
    print()
    print("| imports, fresh interpreter | wall (s) |")
    print("| --- | --- |")
    for label, code in IMPORTS.items():
        print(f"| {label} | {import_seconds(code, 3):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
