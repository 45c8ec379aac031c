"""``ghostbench run`` end to end, in-process (``cli.main``): bad input is one line and exit 2, a
real run writes the documented files, and a re-run keeps (never loses) what was measured."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ghostbench.bench.store import load_run
from ghostbench.commands.cli import main

QUICK = ["--rounds", "1", "--time-cap", "1", "--min-time", "0.2"]


def _one_error_line(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("ERROR: "), err
    return err[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--models", "ghostnet_050", "--backends", "tensorflow"],
            "unknown backend 'tensorflow'; valid backends",
        ),
        (["--models", "ghostnet_999", "--backends", "torch"], "unknown model 'ghostnet_999'"),
        (["--models", "ghostnet_050", "--backends", "torch", "--device", "tpu"], "unknown device 'tpu'"),
        (
            ["--models", "ghostnet_050", "--backends", "torch", "--precision", "fp8"],
            "unknown precision 'fp8'",
        ),
        (["--models", "ghostnet_050", "--backends", "torch", "--threads", "0"], "--threads must be >= 1"),
        (["--models", "ghostnet_050", "--backends", "torch", "--option", "x"], "--option takes KEY=VALUE"),
        (["--models", "ghostnet_050", "--backends", "torch", "--option", "tflite.xnnpack=0"], "not one of"),
        (["--models", "ghostnet_050", "--backends", "torch", "--option", "x=1"], "has no option x"),
        (["--models", "ghostnet_050", "--backends", "torch", "--rounds", "0"], "rounds must be >= 1"),
        (
            ["--models", "ghostnet_050", "--backends", "torch", "--time-cap", "-1"],
            "a window needs a time cap > 0 s",
        ),
        (
            ["--models", "ghostnet_050", "--backends", "onnxruntime", "--artifact", "/nonexistent/m.onnx"],
            "artifact not found: /nonexistent/m.onnx",
        ),
        (
            ["--models", "ghostnet_050", "--backends", "onnxruntime,tflite", "--artifact", __file__],
            "unknown suffix",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    line = _one_error_line(capsys, ["run", *argv, "--out", str(tmp_path / "run")])
    assert message in line
    assert not (tmp_path / "run").exists()  # nothing was started


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_device_cuda_without_cuda(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    argv = [
        "run",
        "--models",
        "ghostnet_050",
        "--backends",
        "torch",
        "--device",
        "cuda",
        "--out",
        str(tmp_path),
    ]
    assert "--device cuda: no CUDA GPU is available here" in _one_error_line(capsys, argv)


def test_a_corrupt_model_file_is_an_error_row(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not an onnx model" * 64)
    out = tmp_path / "run"
    argv = ["run", "--models", "ghostnet_050", "--backends", "onnxruntime", "--artifact", str(corrupt)]
    code = main([*argv, *QUICK, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert (
        captured.err.strip().splitlines()[-1] == f"ERROR: 1 of 1 cells failed (reasons in {out}/latency.csv)"
    )
    run, latency, _ = load_run(out)
    assert run["status"] == "complete"
    assert latency["status"].tolist() == ["error"]
    assert latency["error"][0].startswith(f"ONNX Runtime cannot load {corrupt}")


@pytest.mark.slow
def test_run_writes_results_and_a_rerun_loses_nothing(
    capsys: pytest.CaptureFixture, tmp_path: Path, artifact_cache: Path
) -> None:
    out = tmp_path / "run"
    argv = ["run", "--models", "ghostnet_100", "--backends", "onnxruntime,null", "--threads", "1"]
    argv += ["--rounds", "2", "--time-cap", "1", "--min-time", "0.2", "--cache-dir", str(artifact_cache)]
    argv += ["--option", "onnxruntime.spinning=false"]  # a backend-scoped option: null has none
    assert main([*argv, "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "ghostnet_100/onnxruntime/cpu/fp32/t1,spinning=false: median " in stdout
    assert "ghostnet_100/null/cpu/fp32/t1: median " in stdout and " ms, 95% CI [" in stdout

    assert {p.name for p in out.iterdir()} == {
        ".lock",
        "run.json",
        "latency.csv",
        "latency.parquet",
        "samples.parquet",
    }
    run, latency, samples = load_run(out)
    assert run["status"] == "complete" and run["overhead_ns"] > 0
    assert run["options"]["rounds"] == 2 and run["options"]["time_cap_s"] == 1.0
    assert run["env"]["versions"]["onnxruntime"] and len(run["plan"]) == 2
    assert latency["status"].tolist() == ["ok", "ok"]
    ort = latency.set_index("backend").loc["onnxruntime"]
    assert ort["runtime"] == "onnxruntime" and ort["windows"] == 2
    assert ort["ci_low_ms"] <= ort["median_ms"] <= ort["ci_high_ms"]
    assert (
        ort["params"] > 0 and ort["macs"] > 0 and ort["activations"] > 0 and ort["top1_kind"] == "published"
    )
    assert len(ort["artifact_sha256"]) == 64 and ort["parity_cosine"] > 0.9999
    assert set(samples["window"]) == {0, 1}
    assert samples.groupby("cell").size().to_dict() == latency.set_index("cell")["n"].to_dict()

    # Again with a failing extra cell: the measured cells are kept, not measured again.
    before = samples.copy()
    again = [*argv, "--backends", "onnxruntime,null", "--out", str(out)]
    assert main(again) == 0
    assert "resuming" in capsys.readouterr().err
    failing = ["run", "--models", "ghostnet_100", "--backends", "null", "--option", "fault=raise"]
    failing += ["--rounds", "2", "--time-cap", "1", "--min-time", "0.2"]
    assert main([*failing, "--out", str(out)]) == 2
    run, latency, samples = load_run(out)
    assert latency["status"].tolist() == ["ok", "ok", "error"]
    assert samples.equals(before)
    assert len(run["resumed"]) == 2
    assert len(run["plan"]) == 3  # the plan keeps every cell the folder holds

    # Other measurement settings into the same folder: refused, nothing touched.
    capsys.readouterr()
    assert main([*failing, "--out", str(out), "--rounds", "1"]) == 2
    assert (
        "holds cells measured with other settings (rounds 2 -> 1); use another --out"
        in capsys.readouterr().err
    )
    assert load_run(out)[0] == run


def test_an_artifact_is_refused_under_another_models_name(
    capsys: pytest.CaptureFixture, tmp_path: Path, artifact_cache: Path
) -> None:
    """A cached file's artifact.json names what it was exported from: timing ghostnet_050's graph
    as ghostnet_100 would give a row with ghostnet_100's params, MACs and accuracy."""
    from ghostbench.exporters import export

    artifact = export("ghostnet_050", "onnx", cache_dir=artifact_cache)
    argv = ["run", "--models", "ghostnet_100", "--backends", "onnxruntime", "--artifact", str(artifact.path)]
    line = _one_error_line(capsys, [*argv, "--out", str(tmp_path / "run")])
    assert line == (
        f"ERROR: --artifact {artifact.path}: its artifact.json says it is ghostnet_050 onnx fp32, "
        "this run asks for ghostnet_100 onnx fp32"
    )
    assert not (tmp_path / "run").exists()
