"""Fidelity: the harness's median agrees with ONNX Runtime's own profiler on the same iterations.

The profiler records a ``model_run`` event (in microseconds) inside every ``Run``; the harness
times the same calls from Python with ``perf_counter_ns``. Both see the same runs, so machine
noise hits both alike and the difference is the harness's own cost.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from ghostbench.core.artifact import Artifact
from ghostbench.core.cell import Cell
from ghostbench.core.window import HarnessConfig
from ghostbench.exporters import export
from ghostbench.runners.onnxruntime_runner import OnnxRuntimeRunner
from ghostbench.worker.harness import measure_window

TOLERANCE = 0.03


@pytest.fixture(scope="module")
def onnx_100(artifact_cache: Path) -> Artifact:
    return export("ghostnet_100", "onnx", "fp32", cache_dir=artifact_cache)


def test_harness_median_matches_onnxruntime_profiler(onnx_100: Artifact, tmp_path: Path) -> None:
    runner = OnnxRuntimeRunner(profile_prefix=str(tmp_path / "ort_profile"))
    cell = Cell("ghostnet_100", "onnxruntime", threads=1)
    config = HarnessConfig(
        warmup_min_s=0.2, warmup_max_s=2.0, min_samples=100, min_time_s=1.0, time_cap_s=3.0
    )
    result = measure_window(runner, cell, onnx_100, config)
    trace = json.loads(Path(runner.end_profiling()).read_text())
    runner.close()

    runs_ns = [event["dur"] * 1000 for event in trace if event.get("name") == "model_run"]
    # Every inference the harness made is in the trace: first, warm-up, timed, in that order.
    assert len(runs_ns) == 1 + result.warmup_n + len(result.samples_ns), (len(runs_ns), result.warmup_n)
    profiled = runs_ns[-len(result.samples_ns) :]
    harness_median = statistics.median(result.samples_ns)
    profiler_median = statistics.median(profiled)
    assert abs(harness_median / profiler_median - 1) < TOLERANCE, (harness_median, profiler_median)
    # The pairing is right: each Python-timed call contains its model_run (profiler has 1 us steps).
    contains = sum(h >= p - 1000 for h, p in zip(result.samples_ns, profiled, strict=True))
    assert contains / len(profiled) > 0.99, (contains, len(profiled))
