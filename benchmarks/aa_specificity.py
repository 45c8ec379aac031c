"""Specificity of ``ghostbench compare``: A/A comparisons of back-to-back runs of the same code on
the same machine, where every flagged cell is a false alarm.

Runs ``ghostbench bench --device DEVICE --quick --rounds R --out-dir OUT/run-NN`` N + 1 times back
to back and compares each run with the next (N comparisons, default 10), with ``compare``'s own
rule and threshold. A plain quick run measures one window per cell, which ``compare`` lists but does
not judge (one window shows nothing of how far the machine moves a run), so the runs here keep the
quick models and short windows but take R = 3 rounds, as the full runs that gate regressions do.
Prints one line per comparison and the totals: cells flagged (slower or faster: false alarms),
cells judged, cells not comparable and why (e.g. the machine was busy), cells that failed.

The same series measures the machine's run noise (``ghostbench/bench/run_noise.py``): how far
run medians move between runs beyond what each run's windows show. ``--write-noise FILE`` keeps it
(``make calibrate`` writes ``results/baselines/<device>/noise.json``, which ``compare`` reads).
``--noise FILE`` judges the series with a run noise measured before, by another series: judging a
series with its own run noise would grade it on what it was fitted to. Without ``--noise`` the
series is judged on window noise alone.

Target: at most 1 flagged cell over all comparisons. Exit 0 when met with at least one judged
cell, 1 when more cells were flagged, 2 when nothing could be judged (e.g. every run saw a busy
machine: run it again when the machine is idle).
With ``--write-noise`` the run is a calibration: exit 0 once the file is written, 2 when the
series cannot show a run noise (see the message).

    .venv/bin/python benchmarks/aa_specificity.py [--comparisons 10] [--device cpu] [--rounds 3]
        [--out results/aa-specificity] [--threshold 0.05] [--bench-args "--threads 1"]
        [--noise results/baselines/cpu/noise.json] [--write-noise FILE]
    .venv/bin/python benchmarks/aa_specificity.py --existing results/aa-specificity/run-*/*/  # re-judge

Takes (N + 1) x one quick run: about 7 minutes on 2 CPUs for the defaults. Writes ``summary.json``
into --out.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from ghostbench.bench import compare, run_noise
from ghostbench.core.errors import GhostbenchError
from ghostbench.reports import compare_text, fmt

TARGET = 1  # flagged cells allowed over all comparisons
FLAGGED = (compare.REGRESSION, compare.IMPROVEMENT)


def bench(root: Path, device: str, rounds: int, extra: list[str]) -> Path:
    """One quick run under ``root`` through the CLI, as a user would start it; its run folder."""
    command = [sys.executable, "-m", "ghostbench", "bench", "--device", device, "--quick", "--no-report"]
    command += ["--rounds", str(rounds), "--out-dir", str(root), *extra]
    started = time.perf_counter()
    result = subprocess.run(command, check=False)
    took = time.perf_counter() - started
    runs = sorted(p.parent for p in root.glob("*/run.json"))
    print(f"  {root.name}: exit {result.returncode} after {took:.0f} s", flush=True)
    # Exit 2 with a run folder: some cells failed; compare lists them.
    if len(runs) != 1:
        raise SystemExit(f"{shlex.join(command)} failed with exit code {result.returncode}")
    return runs[0]


def judge(runs: list[Path], threshold: float, noise: float) -> dict:
    """Compare each run with the next (run noise ``noise``); count statuses and the reasons cells
    were not compared."""
    totals: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    pairs = []
    for a, b in itertools.pairwise(runs):
        try:
            result = compare.compare_runs(a, b, threshold, run_noise=noise)
        except GhostbenchError as exc:
            print(f"  {a.name} → {b.name}: not compared: {exc}")
            pairs.append({"baseline": a.name, "new": b.name, "error": str(exc)})
            reasons[str(exc).split(":")[0]] += 1
            continue
        counts = {s: n for s, n in result.counts.items() if n}
        totals.update(counts)
        for cell in result.of(compare.NOT_COMPARABLE):
            reasons[cell.reason.split(":")[0]] += 1
        flagged = [
            f"{c.cell} {fmt.change(c.ratio)} (margin {compare_text.fmt_margin(c.margin)})"
            for c in result.cells
            if c.status in FLAGGED
        ]
        print(f"  {a.name} → {b.name}: {compare_text.summary_line(result)}")
        for line in flagged:
            print(f"      flagged: {line}")
        pairs.append({"baseline": a.name, "new": b.name, "counts": counts, "flagged": flagged})
    flagged_total = sum(totals[s] for s in FLAGGED)
    judged = flagged_total + totals[compare.UNCHANGED]
    return {
        "threshold": threshold,
        "run_noise": noise,
        "comparisons": len(pairs),
        "flagged": flagged_total,
        "judged": judged,
        "totals": dict(totals),
        "not_compared_reasons": dict(reasons),
        "target_flagged_at_most": TARGET,
        "pairs": pairs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--comparisons", type=int, default=10, help="A/A comparisons (runs = this + 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=3, help="windows per cell (default 3)")
    parser.add_argument("--out", type=Path, default=Path("results") / "aa-specificity")
    parser.add_argument("--threshold", type=float, default=compare.DEFAULT_THRESHOLD)
    parser.add_argument("--bench-args", default="", help="more arguments for ghostbench bench")
    parser.add_argument("--existing", nargs="+", type=Path, help="judge these runs instead of running")
    parser.add_argument("--noise", type=Path, help="judge with the run noise in this noise.json")
    parser.add_argument("--write-noise", type=Path, help="write the series' run noise to this file")
    args = parser.parse_args(argv)

    if args.existing:
        runs = sorted(args.existing)
    else:
        if args.comparisons < 1:
            parser.error("--comparisons must be >= 1")
        roots = [args.out / f"run-{i:02d}" for i in range(args.comparisons + 1)]
        if any(r.exists() for r in roots):
            parser.error(f"{args.out} already holds runs: remove it or judge them with --existing")
        print(f"{len(roots)} back-to-back quick runs ({args.rounds} rounds) on {args.device}", flush=True)
        extra = shlex.split(args.bench_args)
        runs = [bench(root, args.device, args.rounds, extra) for root in roots]
    noise = 0.0
    if args.noise:
        try:
            given = run_noise.load(args.noise)
        except GhostbenchError as exc:
            parser.error(str(exc))
        noise = given.sigma
        print(f"run noise from {args.noise}: {given.describe()}")
    print(f"A/A comparisons (threshold {100 * args.threshold:.1f} %, run noise {100 * noise:.1f} %):")
    summary = judge(runs, args.threshold, noise)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"flagged {summary['flagged']} of {summary['judged']} judged cells in {summary['comparisons']} "
        f"A/A comparisons (target: at most {TARGET}); all statuses: {summary['totals']}; "
        f"not compared: {summary['not_compared_reasons'] or 'none'}"
    )
    if args.write_noise:
        try:
            measured = run_noise.estimate(runs)
            run_noise.write(args.write_noise, measured)
        except GhostbenchError as exc:
            print(f"ERROR: no run noise written: {exc}", file=sys.stderr)
            return 2
        summary["measured_run_noise"] = measured.to_dict()
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(f"run noise of this series: {measured.describe()}, written to {args.write_noise}")
        return 0  # a calibration: the A/A counts above are judged without it, for information
    if summary["judged"] == 0:
        print("nothing could be judged: see why above")
        return 2
    return 0 if summary["flagged"] <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
