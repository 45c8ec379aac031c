"""The prepared GPU check, rehearsed end to end on this CPU (``--dry-run``): every step runs for
real (bench, both reports, verdicts, the reference harnesses, ``pytest -m gpu``) on a CPU plan, so
the one command a lent GPU gets has run before it gets there."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_gpu_check_rehearses_every_step_and_returns_five_files(tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    env = {**os.environ, "GHOSTBENCH_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--out", str(out), "--work", str(work), "--dry-run",
         "--skip-install"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == [
        "check.log", "cpu-gpu.html", "gpu.html", "results.tar.gz", "summary.json"
    ]  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == {
        "bench": "exit 0", "report": "exit 0", "cross_report": "exit 0", "references": "exit 0",
        "pytest": "exit 0",
    }  # fmt: skip
    assert {c["model"] for c in summary["cells"]} == {"ghostnet_050", "regnetx_002"}
    assert all(c["status"] == "ok" and c["median_ms"] > 0 for c in summary["cells"])
    assert summary["verdicts"], "the verdicts of the run and the CPU baseline"
    (ref,) = summary["references"]["harnesses"]
    # The three clocks time the same inference: far apart only if one of them is broken.
    assert 0.7 < ref["ratio_timer"] < 1.3 and 0.7 < ref["ratio_sync_loop"] < 1.3
    timm = summary["references"]["timm"]
    if importlib.util.find_spec("timm") is None:
        assert timm == {"skipped": "timm is not installed here (No module named 'timm')"}
    else:  # timm's definitions of the same architectures hold the same parameters
        assert timm and all(r["params_equal"] for r in timm)
    with tarfile.open(out / "results.tar.gz") as tar:
        names = tar.getnames()
    assert any(n.endswith("/latency.csv") for n in names) and any(n.endswith("/run.json") for n in names)
    assert "| model | backend | precision |" in (out / "check.log").read_text()
