"""`ghostbench bench`: plans, bad input, output checks, and the quick end-to-end run with Ctrl-C
and --resume on the real exporters, runtimes and worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ghostbench.bench.plan import DEFAULT_MODELS, QUICK_MODELS, get_profile, make_plan
from ghostbench.commands.cli import main
from ghostbench.core.errors import GhostbenchError


def test_cpu_profile_plans_the_default_set_on_three_backends():
    plan = make_plan(get_profile("cpu"))
    assert {c.model for c in plan.cells} | {c.model for c, _ in plan.skipped} == set(DEFAULT_MODELS)
    assert {c.backend for c in plan.cells} == {"torch", "onnxruntime", "tflite"}
    assert all(c.device == "cpu" and c.precision == "fp32" and c.threads == 1 for c in plan.cells)
    assert len({c.key for c in plan.cells}) == len(plan.cells) == 45


def test_quick_plan_and_overrides():
    quick = make_plan(get_profile("cpu"), quick=True)
    assert sorted({c.model for c in quick.cells}) == sorted(QUICK_MODELS)
    assert {c.backend for c in quick.cells} == {"onnxruntime", "tflite"}
    custom = make_plan(get_profile("cpu"), models=("ghostnet_*",), backends=("onnxruntime",), threads=(1, 2))
    assert sorted(c.key for c in custom.cells) == sorted(
        f"ghostnet_{w}/onnxruntime/cpu/fp32/t{t}" for w in ("050", "100", "130") for t in (1, 2)
    )


def test_cells_that_cannot_run_here_are_skipped_with_the_reason():
    plan = make_plan(
        get_profile("cpu"),
        models=("ghostnet_050",),
        backends=("torch", "tensorrt"),
        precisions=("fp32", "fp16"),
    )
    reasons = {c.key: why for c, why in plan.skipped}
    assert "ghostnet_050/torch/cpu/fp16/t1" in reasons
    assert "tensorrt" in reasons["ghostnet_050/tensorrt/cpu/fp32/t1"]
    assert [c.key for c in plan.cells] == ["ghostnet_050/torch/cpu/fp32/t1"]


def test_unknown_device_lists_the_valid_ones(capsys):
    assert main(["bench", "--device", "tpu"]) == 2
    assert "valid devices: cpu, gpu, pi, android" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform != "linux", reason="probes CUDA through torch")
def test_gpu_profile_without_a_gpu_stops_at_once(capsys, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    started = time.perf_counter()
    assert main(["bench", "--device", "gpu", "--out-dir", str(tmp_path)]) == 2
    assert "DEVICE=gpu: no CUDA GPU is available here" in capsys.readouterr().err
    assert time.perf_counter() - started < 10
    assert not any(tmp_path.iterdir())


def test_unknown_model_is_one_line(capsys, tmp_path):
    assert main(["bench", "--models", "ghostnet_10", "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean" in err


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a read-only or tiny filesystem needs root")
def test_read_only_or_full_output_dir_fails_before_measuring(tmpfs, capsys):
    read_only = tmpfs("ro,size=1m")
    assert main(["bench", "--quick", "--out-dir", str(read_only / "results")]) == 2
    assert "cannot write results to" in capsys.readouterr().err
    full = tmpfs("size=1m")
    assert main(["bench", "--quick", "--out-dir", str(full)]) == 2
    assert "MiB free" in capsys.readouterr().err
    assert list(full.iterdir()) == []


def _bench(args: list[str], cwd: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ghostbench", "bench", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_quick_bench_survives_ctrl_c_and_resumes(tmp_path):
    """The quick bench on real ONNX Runtime and LiteRT: SIGINT after the first finished cell keeps
    that cell and marks the run interrupted; --resume measures only the rest, each cell once, from
    the cache the run was started with (not the one the environment names now)."""
    cache, other_cache = tmp_path / "cache", tmp_path / "other-cache"
    env = {**os.environ, "GHOSTBENCH_CACHE_DIR": str(other_cache)}
    out = tmp_path / "results"
    proc = _bench(["--quick", "--out-dir", str(out), "--no-report", "--cache-dir", str(cache)], tmp_path, env)
    deadline = time.monotonic() + 400
    latency: Path | None = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(out.glob("*/latency.csv"))
        if found and len(pd.read_csv(found[0])) >= 1:
            latency = found[0]
            break
        time.sleep(0.2)
    assert latency is not None, f"no cell finished: {proc.communicate()[1][-2000:]}"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    run_dir = latency.parent
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "interrupted"
    assert f"--resume {run_dir.name}" in err
    kept = pd.read_csv(latency)
    assert 1 <= len(kept) < len(run["plan"]) and (kept["status"] == "ok").all()
    assert (run_dir / "bench.log").read_text().count("interrupted") >= 1

    resumed = _bench(["--resume", run_dir.name, "--out-dir", str(out), "--no-report"], tmp_path, env)
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-3000:]
    assert not other_cache.exists(), "resume re-exported into another cache"
    assert json.loads((run_dir / "run.json").read_text())["options"]["cache_dir"] == str(cache)
    final = pd.read_csv(latency)
    planned = {
        f"{c['model']}/{c['backend']}/{c['device']}/{c['precision']}/t{c['threads']}" for c in run["plan"]
    }
    assert sorted(final["cell"]) == sorted(planned), "each planned cell exactly once"
    assert (final["status"] == "ok").all()
    for cell in kept["cell"]:  # the cells measured before Ctrl-C were not measured again
        assert final.set_index("cell").loc[cell, "median_ms"] == kept.set_index("cell").loc[cell, "median_ms"]
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "complete" and len(run["resumed"]) == 1
    samples = pd.read_parquet(run_dir / "samples.parquet")
    assert set(samples["cell"]) == planned


def test_resume_of_an_unknown_run_is_a_clear_error(tmp_path, capsys):
    assert main(["bench", "--resume", "nope", "--out-dir", str(tmp_path)]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


def test_plan_rejects_bad_threads():
    with pytest.raises(GhostbenchError, match="threads"):
        make_plan(get_profile("cpu"), threads=(0,))


def test_threads_beyond_the_usable_cpus_need_the_override(monkeypatch, capsys):
    from ghostbench.commands import options

    monkeypatch.setattr(options, "usable_cpus", lambda: 2)
    with pytest.raises(GhostbenchError, match=r"--threads 100000 is more than the 2 CPUs .* --oversubscribe"):
        options.thread_counts("1,100000", device="cpu")
    with pytest.raises(GhostbenchError, match="more than the 2 CPUs"):
        options.thread_counts("4", device="cuda")
    assert options.thread_counts("1,4", device="cpu", oversubscribe=True) == (1, 4)
    assert options.thread_counts("1,4", device="pi") == (1, 4)  # a board's cores are its own
    assert main(["bench", "--threads", "3", "--quick"]) == 2
    assert capsys.readouterr().err.startswith("ERROR: --threads 3 is more than the 2 CPUs")


def test_a_cell_whose_export_fails_is_reported_and_fails_the_run(tmp_path, monkeypatch):
    """An export failure skips its cells (the rest are measured) but is no success: exit 2, and the
    console says which cell and why, not only bench.log."""
    import io

    from rich.console import Console

    import ghostbench.exporters as exporters
    from ghostbench.bench.measure import MeasureOptions
    from ghostbench.bench.orchestrate import BenchSettings, run_plan
    from ghostbench.bench.plan import Plan
    from ghostbench.core.cell import Cell
    from ghostbench.core.window import HarnessConfig
    from ghostbench.exporters import ExportError

    def broken(model, fmt, precision, **kwargs):
        raise ExportError(f"{model} -> {fmt} {precision} failed: [converter] said no")

    monkeypatch.setattr(exporters, "export", broken)
    measured, unexported = Cell("ghostnet_050", "null"), Cell("ghostnet_050", "onnxruntime")
    plan = Plan(profile=get_profile("cpu"), cells=(measured, unexported))
    harness = HarnessConfig(
        warmup_min_iters=5, warmup_min_s=0.0, min_samples=50, min_time_s=0.05, time_cap_s=0.2
    )
    settings = BenchSettings(measure=MeasureOptions(rounds=1, harness=harness, timeout_s=60))
    out = io.StringIO()
    console = Console(file=out, width=200)

    assert run_plan(plan, tmp_path / "run", settings, console=console) == 2
    text = out.getvalue()
    assert (
        f"not measured: {unexported.key}: export failed: ghostnet_050 -> onnx fp32 failed: [converter]"
        in text
    )
    assert "(1 cells, 0 failed, 1 not exported (see above))" in text
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [s["cell"] for s in run["skipped"]] == [unexported.key]
    assert pd.read_parquet(tmp_path / "run" / "latency.parquet")["cell"].tolist() == [measured.key]


def test_backend_options_reach_their_cells_only(capsys, tmp_path):
    from ghostbench.commands.options import backend_options

    options = backend_options(["onnxruntime.graph_opt=basic", "spinning=false"], ("onnxruntime", "tflite"))
    plan = make_plan(
        get_profile("cpu"), models=("ghostnet_050",), backends=("onnxruntime", "tflite"), options=options
    )
    by_backend = {c.backend: c.options for c in plan.cells}
    assert by_backend["onnxruntime"] == {"graph_opt": "basic", "spinning": "false"}
    # tflite has no `spinning` option: its cell is skipped with the reason, not run with it.
    assert [c.backend for c, _ in plan.skipped] == ["tflite"] and "spinning" in plan.skipped[0][1]
    # A scope that is not one of the planned backends: one line, exit 2, nothing measured.
    assert main(["bench", "--quick", "--option", "torch.channels_last=true", "--out-dir", str(tmp_path)]) == 2
    assert "'torch' is not one of --backends onnxruntime, tflite" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_cells_for_a_board_or_phone_are_checked_before_anything_is_exported():
    """Backend and options are known on this side; a phone runs TFLite only, a board has no torch."""
    phone = make_plan(
        get_profile("android"),
        models=("ghostnet_050",),
        backends=("tflite", "onnxruntime"),
        threads=(1,),
        options={"tflite": {"gpu": "true", "fp16": "true"}},
    )
    assert phone.cells == ()
    reasons = sorted(why for _, why in phone.skipped)
    assert reasons == [
        "no option fp16 for tflite on android; valid: xnnpack, gpu, nnapi",
        "the android profile runs tflite cells, not 'onnxruntime'",
    ]
    board = make_plan(get_profile("pi"), models=("ghostnet_050",), backends=("torch", "tflite"), threads=(1,))
    assert [c.backend for c in board.cells] == ["tflite"]
    assert "the pi profile runs tflite, onnxruntime, null cells, not 'torch'" in board.skipped[0][1]


@pytest.mark.slow
def test_exports_run_in_parallel_processes_one_model_each(tmp_path):
    """Two models in two export processes: each model's artifacts in order in one process, a
    failure is its message, and the caller learns what is still running."""
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install 'ghostbench[onnx]')")
    from ghostbench.bench.orchestrate import _export_groups
    from ghostbench.core.artifact import Artifact
    from ghostbench.exporters import lookup

    groups = {"ghostnet_050": [("onnx", "fp32"), ("onnx", "fp16")], "no_such_model": [("onnx", "fp32")]}
    seen: dict[str, tuple[list, set]] = {}
    _export_groups(
        groups, tmp_path, 2, lambda model, results, running: seen.update({model: (results, running)})
    )
    assert set(seen) == set(groups)
    fp32, fp16 = seen["ghostnet_050"][0]
    assert isinstance(fp32, Artifact) and isinstance(fp16, Artifact)
    assert fp16.meta["source"]["key"] == fp32.key  # derived from the fp32 file made just before
    assert lookup("ghostnet_050", "onnx", "fp16", cache_dir=tmp_path) == fp16
    (failure,) = seen["no_such_model"][0]
    assert isinstance(failure, str) and failure.startswith("unknown model 'no_such_model'")
    # The unknown name fails in seconds while the export goes on: it was still running then.
    assert seen["no_such_model"][1] == {"ghostnet_050"} and seen["ghostnet_050"][1] == set()
