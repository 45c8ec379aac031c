"""Report generation for a full default-set CPU run (the plan's default models x three backends, a few
thousand samples per cell) stays under the 20 s budget of issue 7."""

from __future__ import annotations

import time
from pathlib import Path

import reportdata as rd

from ghostbench.bench.plan import PROFILES
from ghostbench.reports import build_report

BUDGET_S = 20.0
SAMPLES_PER_CELL = 3000


def test_full_default_run_reports_within_budget(tmp_path: Path) -> None:
    backends = PROFILES["cpu"].backends
    models = rd.default_models()
    run = rd.write_run(
        tmp_path,
        "20261123T121500Z-full",
        rd.full_cells(models, backends),
        rd.cpu_latency,
        samples_per_cell=SAMPLES_PER_CELL,
        windows=5,
    )
    start = time.perf_counter()
    out = build_report([run], tmp_path / "full.html", markdown_path=tmp_path / "full.md")
    elapsed = time.perf_counter() - start
    cells = f"{len(models)} models x {len(backends)} backends x {SAMPLES_PER_CELL} samples"
    print(f"report of {cells}: {elapsed:.1f} s")
    assert out.stat().st_size > 0
    assert elapsed < BUDGET_S
