"""The whole GPU check in one command, for a lent GPU machine whose lease is 15 minutes in all.

Steps, each with its own time limit inside ``--budget`` (most important first, so a step that runs
long costs the later ones, never the GPU run):

1. install ghostbench without its dependencies (the image's torch stays) and print the GPU, the
   driver and the versions;
2. the budgeted GPU bench (``ghostbench bench --device gpu``: torch eager fp32/fp16, CUDA graphs
   fp16, torch.compile fp16 on three models; ONNX Runtime and TensorRT cells are skipped where
   their GPU builds are missing), stopped with Ctrl-C at its limit so every finished group is kept;
3. the GPU report and a cross-device one with ``results/baselines/cpu``, the claims' verdicts and
   a per-cell table;
4. ``benchmarks/gpu_references.py``: ghostbench against ``torch.utils.benchmark``, a synchronize
   loop and timm's models;
5. ``pytest -m gpu`` on the test files that hold GPU tests.

Everything a person needs comes back in ``--out`` (at most 8 files, no subfolders): the run folder
as ``results.tar.gz``, ``gpu.html``, ``cpu-gpu.html``, ``summary.json`` (phases, table, verdicts,
references) and ``check.log`` (every step's output).

    python3 benchmarks/gpu_check.py --out "$OUT"                  # on the GPU machine
    python3 benchmarks/gpu_check.py --out /tmp/check --dry-run    # rehearsal on a CPU
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CPU_BASELINE = REPO / "results" / "baselines" / "cpu"
GPU_TEST_FILES = ("tests/test_runners.py", "tests/test_exporters_tensorrt.py", "tests/test_session.py")
# Seconds per step; the budget's remainder caps each too.
LIMITS = {"install": 120, "bench": 390, "report": 60, "cross_report": 60, "references": 120, "pytest": 150}
WHEELS = ".whl"  # carried to the GPU machine: pure-Python wheels its image lacks (optional)
INTERRUPT_GRACE_S = 30  # after Ctrl-C, for the bench to write what it finished


class Check:
    """The log, the phase times and the summary of one check."""

    def __init__(self, out: Path, work: Path, budget_s: float) -> None:
        self.out, self.work = out, work
        self.deadline = time.monotonic() + budget_s
        self.log = (out / "check.log").open("a")
        self.summary: dict = {"phases_s": {}, "steps": {}}

    def left(self, step: str) -> float:
        return max(0.0, min(LIMITS[step], self.deadline - time.monotonic()))

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.log.write(text + "\n")
        self.log.flush()

    def run(self, step: str, argv: list[str], *, env: dict | None = None) -> int | None:
        """``argv`` with its output in the log; at the step's limit it gets Ctrl-C, then SIGKILL.
        Returns the exit status, or None when it was stopped."""
        limit = self.left(step)
        if limit < 5:
            self.say(f"[{step}] skipped: no time left in the budget")
            self.summary["steps"][step] = "skipped: no time left"
            return None
        self.say(f"[{step}] {' '.join(argv)} (limit {limit:.0f} s)")
        start = time.monotonic()
        proc = subprocess.Popen(
            argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO, env=env, start_new_session=True
        )
        code: int | None
        try:
            code = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=INTERRUPT_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            code = None
        elapsed = time.monotonic() - start
        self.summary["phases_s"][step] = round(self.summary["phases_s"].get(step, 0) + elapsed, 1)
        self.summary["steps"][step] = "stopped at its limit" if code is None else f"exit {code}"
        self.say(f"[{step}] {self.summary['steps'][step]} after {elapsed:.0f} s")
        return code


def install(check: Check, python: str) -> None:
    """Carried wheels (``.whl/``: what the image lacks, platformdirs) into a folder of their own,
    then ghostbench itself, no dependencies and no index: the image's torch is what is measured."""
    wheels = sorted((REPO / WHEELS).glob("*.whl"))
    if wheels:
        site = check.work / "site"
        check.run(
            "install",
            [python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--upgrade",
             "--target", str(site), *map(str, wheels)],
        )  # fmt: skip
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    code = check.run(
        "install",
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-build-isolation", "-e", "."],
    )
    if code != 0:  # still importable from the checkout; only its version metadata is missing
        check.say("[install] pip failed: running from the checkout (PYTHONPATH)")
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))


def environment(check: Check, python: str, device: str) -> None:
    code = (
        "import json, torch; from ghostbench.worker import env; s = env.snapshot();"
        "print(json.dumps({'gpu': s['gpu'], 'torch': s['torch'], 'versions': s['versions'],"
        f"'cuda_available': torch.cuda.is_available(), 'device': {device!r}}}, default=str))"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    check.say(done.stdout.strip() or done.stderr.strip()[-2000:])
    try:
        check.summary["environment"] = json.loads(done.stdout)
    except json.JSONDecodeError:
        check.summary["environment"] = {"error": done.stderr.strip()[-2000:]}


def bench_argv(python: str, results: Path, dry_run: bool) -> list[str]:
    argv = [python, "-m", "ghostbench", "bench", "--out-dir", str(results), "--no-report"]
    if dry_run:  # the same steps on a CPU: torch eager, two models, short windows
        return [*argv, "--device", "cpu", "--backends", "torch", "--models", "ghostnet_050,regnetx_002",
                "--rounds", "2", "--time-cap", "1", "--min-time", "0.3"]  # fmt: skip
    return [*argv, "--device", "gpu"]


def run_folder(results: Path) -> Path | None:
    runs = sorted(p for p in results.glob("*") if (p / "run.json").is_file())
    return runs[-1] if runs else None


def cell_table(run: Path) -> list[dict]:
    import pandas as pd

    latency = pd.read_csv(run / "latency.csv")
    columns = ["model", "backend", "precision", "status", "median_ms", "ci_low_ms", "ci_high_ms", "n",
               "windows", "window_spread", "flags", "activations", "macs", "error"]  # fmt: skip
    return latency[[c for c in columns if c in latency]].to_dict("records")


def print_table(check: Check, rows: list[dict]) -> None:
    check.say("| model | backend | precision | median (ms) | 95% CI (ms) | n | flags / error |")
    check.say("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if r.get("status") == "ok":
            ci = f"{r['ci_low_ms']:.4f}-{r['ci_high_ms']:.4f}"
            tail = r.get("flags") if isinstance(r.get("flags"), str) else ""
            check.say(
                f"| {r['model']} | {r['backend']} | {r['precision']} | {r['median_ms']:.4f} | {ci} "
                f"| {r['n']} | {tail} |"
            )
        else:
            error = str(r.get("error", ""))[:100].replace("\n", " ")
            check.say(f"| {r['model']} | {r['backend']} | {r['precision']} | | | | error: {error} |")


def verdicts(run_dirs: list[Path]) -> list[dict]:
    from ghostbench.reports import load, verdict

    data = load.load(run_dirs)
    return [
        {"claim": v.claim, "group": v.group, "status": v.status, "why": v.why, "rows": v.rows}
        for v in verdict.evaluate(data.cells)
    ]


def report(check: Check, python: str, run: Path) -> None:
    check.run("report", [python, "-m", "ghostbench", "report", str(run), "-o", str(check.out / "gpu.html")])
    if CPU_BASELINE.is_dir():
        check.run(
            "cross_report",
            [python, "-m", "ghostbench", "report", str(CPU_BASELINE), str(run), "-o",
             str(check.out / "cpu-gpu.html")],
        )  # fmt: skip
    try:
        found = verdicts([run, CPU_BASELINE] if CPU_BASELINE.is_dir() else [run])
    except Exception as exc:  # the tables are still on disk; say why the verdicts are missing
        check.say(f"[verdicts] failed: {type(exc).__name__}: {exc}")
        return
    check.summary["verdicts"] = found
    for v in found:
        check.say(f"verdict {v['claim']} [{v['group']}]: {v['status']}: {v['why']}")
        for row in v["rows"]:
            if v["claim"] == "activations-gpu":
                check.say(f"    {' | '.join(row)}")


def pack(check: Check, run: Path) -> None:
    with tarfile.open(check.out / "results.tar.gz", "w:gz") as tar:
        tar.add(run, arcname=run.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="where the files that come back go")
    parser.add_argument("--work", type=Path, default=Path("/tmp/ghostbench-gpu-check"), help="scratch")
    parser.add_argument("--budget", type=float, default=570.0, help="seconds for all steps (default 570)")
    parser.add_argument("--dry-run", action="store_true", help="rehearse every step on this CPU")
    parser.add_argument("--skip-install", action="store_true", help="ghostbench is installed already")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    check = Check(args.out, args.work, args.budget)
    # The artifact cache and zoo manifest in the scratch folder: nothing left behind, and no
    # platform cache lookup (platformdirs is the one dependency the GPU image lacks).
    os.environ.setdefault("GHOSTBENCH_CACHE_DIR", str(args.work / "cache"))
    python = sys.executable
    device = "cpu" if args.dry_run else "cuda"
    started = time.monotonic()
    try:
        if not args.skip_install:
            install(check, python)
        environment(check, python, device)
        results = args.work / "results"
        check.run("bench", bench_argv(python, results, args.dry_run))
        run = run_folder(results)
        if run is None:
            check.say("[bench] no run folder: nothing to report")
        else:
            rows = cell_table(run)
            check.summary["cells"] = rows
            check.say(f"run {run.name}: {sum(r['status'] == 'ok' for r in rows)} of {len(rows)} cells ok")
            print_table(check, rows)
            pack(check, run)
            report(check, python, run)
        references = args.work / "references.json"
        refs = [python, "benchmarks/gpu_references.py", "--out", str(references), "--device", device]
        if args.dry_run:  # one model that is quick on a CPU
            refs += ["--models", "mobilenetv3_large_100"]
        check.run("references", refs)
        if references.is_file():
            check.summary["references"] = json.loads(references.read_text())
        check.run(
            "pytest", [python, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", *GPU_TEST_FILES]
        )
    finally:
        check.summary["phases_s"]["total"] = round(time.monotonic() - started, 1)
        (args.out / "summary.json").write_text(json.dumps(check.summary, indent=1, default=str))
        check.say(f"phases (s): {json.dumps(check.summary['phases_s'])}")
        check.log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
