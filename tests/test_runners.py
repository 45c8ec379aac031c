"""Each runner on real libraries: it loads, places the fixed-seed input, times one inference, and
what it timed computes the model (its output matches PyTorch eager on the same input)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ghostbench.core.artifact import Artifact
from ghostbench.core.cell import BACKENDS, Cell
from ghostbench.core.errors import GhostbenchError, MissingDependencyError
from ghostbench.exporters import export, parity
from ghostbench.models import registry
from ghostbench.runners import RUNNERS, create, runner_class
from ghostbench.runners.base import Runner, RunnerBase

HAS_CUDA = torch.cuda.is_available()
HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs an NVIDIA GPU with CUDA (none on this machine)")


@pytest.fixture(scope="module")
def onnx_100(artifact_cache: Path) -> Artifact:
    return export("ghostnet_100", "onnx", "fp32", cache_dir=artifact_cache)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _drive(runner: Runner, cell: Cell, artifact: Artifact | None, n: int = 3) -> list[int]:
    runner.check(cell)
    runner.load(cell, artifact)
    runner.prepare(0)
    return [runner.run_once() for _ in range(n)]


def test_every_backend_has_a_runner_class() -> None:
    assert set(RUNNERS) == set(BACKENDS)
    for backend in BACKENDS:
        cls = runner_class(backend)
        assert issubclass(cls, RunnerBase)
        assert isinstance(cls(), Runner)


def test_unknown_backend_names_the_valid_ones() -> None:
    with pytest.raises(GhostbenchError, match="unknown backend 'tensorflow'; valid backends: null, torch"):
        runner_class("tensorflow")


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (Cell("ghostnet_050", "onnxruntime", options={"bogus": 1}), "has no option bogus"),
        (Cell("ghostnet_050", "onnxruntime", options={"graph_opt": "max"}), "unknown graph_opt 'max'"),
        (Cell("ghostnet_050", "torch", precision="fp16"), "fp16 only on --device cuda"),
        (Cell("ghostnet_050", "torch", precision="int8"), "does not run 'int8'"),
        (Cell("ghostnet_050", "tflite", device="cuda"), "does not run on 'cuda'"),
        (Cell("ghostnet_050", "torch_cudagraph"), "does not run on 'cpu'"),
        (Cell("ghostnet_050", "torch", options={"channels_last": "maybe"}), "must be true or false"),
        (Cell("ghostnet_050", "torch_compile", options={"mode": "fast"}), "unknown torch.compile mode"),
        (Cell("ghostnet_050", "tflite", options={"runtime": "tf"}), "unknown TFLite runtime"),
        (Cell("ghostnet_050", "null", options={"fault": "boom"}), "unknown fault"),
        (Cell("ghostnet_050", "onnxruntime", threads=0), "threads must be >= 1"),
    ],
)
def test_check_rejects_bad_cells(cell: Cell, message: str) -> None:
    with pytest.raises(GhostbenchError, match=message):
        runner_class(cell.backend).check(cell)


@pytest.mark.skipif(HAS_CUDA, reason="checks the message on a machine without CUDA")
def test_cuda_cells_fail_cleanly_without_cuda() -> None:
    with pytest.raises(GhostbenchError, match="no CUDA GPU is available here"):
        runner_class("torch").check(Cell("ghostnet_050", "torch", device="cuda"))


@pytest.mark.skipif(HAS_TENSORRT, reason="checks the message where tensorrt is not installed")
def test_tensorrt_missing_names_the_extra() -> None:
    with pytest.raises(MissingDependencyError, match=r"ghostbench\[tensorrt\]"):
        runner_class("tensorrt").check(Cell("ghostnet_050", "tensorrt", device="cuda"))


def test_onnxruntime_runner_times_the_model(onnx_100: Artifact) -> None:
    runner = create("onnxruntime")
    cell = Cell("ghostnet_100", "onnxruntime", threads=1)
    times = _drive(runner, cell, onnx_100)
    assert all(t > 0 for t in times)
    assert runner.runtime == "onnxruntime" and runner.version()
    reference = parity.reference_output(registry.get("ghostnet_100"), 0)
    assert _cosine(runner.output(), reference) > 0.9999
    runner.close()


def test_onnxruntime_graph_opt_disable_still_runs(onnx_100: Artifact) -> None:
    runner = create("onnxruntime")
    times = _drive(
        runner, Cell("ghostnet_100", "onnxruntime", options={"graph_opt": "disable"}), onnx_100, n=1
    )
    assert times[0] > 0


def test_missing_and_corrupt_artifacts_are_user_errors(onnx_100: Artifact, tmp_path: Path) -> None:
    from dataclasses import replace

    cell = Cell("ghostnet_100", "onnxruntime")
    with pytest.raises(GhostbenchError, match="artifact not found"):
        create("onnxruntime").load(cell, replace(onnx_100, path=tmp_path / "gone.onnx"))
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07 this is not a protobuf" * 50)
    with pytest.raises(GhostbenchError, match="ONNX Runtime cannot load"):
        create("onnxruntime").load(cell, replace(onnx_100, path=corrupt))
    with pytest.raises(GhostbenchError, match="runs tflite files, got a onnx artifact"):
        create("tflite").load(Cell("ghostnet_100", "tflite"), onnx_100)
    with pytest.raises(GhostbenchError, match="needs a onnx artifact"):
        create("onnxruntime").load(cell, None)


def _tiny_classifier() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)
    ).eval()


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny classifier converted by litert-torch with NCHW and with NHWC input (seconds, not the
    half minute GhostNet takes: the runner, not the converter, is under test here)."""
    import litert_torch

    folder = tmp_path_factory.mktemp("tflite")
    model = _tiny_classifier()
    x = parity.example_input(registry.get("ghostnet_050"), 0)
    litert_torch.convert(model, (x,)).export(str(folder / "nchw.tflite"))
    nhwc = litert_torch.to_channel_last_io(model, args=[0])
    litert_torch.convert(nhwc, (x.permute(0, 2, 3, 1),)).export(str(folder / "nhwc.tflite"))
    return {"nchw": folder / "nchw.tflite", "nhwc": folder / "nhwc.tflite"}


def _tflite_artifact(path: Path, meta: dict) -> Artifact:
    return Artifact("ghostnet_050", "tflite", "fp32", path, sha256="", key="test", meta=meta)


@pytest.mark.parametrize(
    ("layout", "meta", "xnnpack"),
    [
        ("nchw", {"input_layout": "nchw"}, "true"),
        ("nhwc", {"input_layout": "nhwc"}, "true"),
        ("nhwc", {}, "false"),  # a file from elsewhere: layout read from the interpreter
    ],
)
def test_tflite_runner_times_the_model(
    tiny_tflite: dict[str, Path], layout: str, meta: dict, xnnpack: str
) -> None:
    runner = create("tflite")
    cell = Cell("ghostnet_050", "tflite", threads=1, options={"xnnpack": xnnpack})
    assert all(t > 0 for t in _drive(runner, cell, _tflite_artifact(tiny_tflite[layout], meta), n=2))
    assert runner.runtime == "ai-edge-litert" and runner.version() != "not installed"
    with torch.inference_mode():
        expected = _tiny_classifier()(parity.example_input(registry.get("ghostnet_050"), 0)).numpy()
    np.testing.assert_allclose(runner.output(), expected, rtol=1e-4, atol=1e-5)


def test_tflite_corrupt_file_is_a_user_error(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"TFL3" + bytes(range(256)) * 8)
    with pytest.raises(GhostbenchError, match="ai-edge-litert cannot load"):
        create("tflite").load(Cell("ghostnet_050", "tflite"), _tflite_artifact(corrupt, {}))


@pytest.mark.parametrize("channels_last", ["false", "true"])
def test_torch_eager_runner_times_the_model(channels_last: str) -> None:
    runner = create("torch")
    cell = Cell("ghostnet_050", "torch", threads=1, options={"channels_last": channels_last})
    assert all(t > 0 for t in _drive(runner, cell, None, n=2))
    reference = parity.reference_output(registry.get("ghostnet_050"), 0)
    assert _cosine(runner.output(), reference) > 0.99999


def _tiny(cell: Cell) -> nn.Module:
    torch.manual_seed(0)  # the same weights every build, so the compiled output can be checked
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def test_torch_compile_runner_compiles_on_first_call() -> None:
    from ghostbench.runners.torch_runner import TorchCompileRunner

    runner = TorchCompileRunner(build=_tiny)  # a tiny net keeps inductor's compile to seconds
    cell = Cell("ghostnet_050", "torch_compile", threads=1)
    first, *rest = _drive(runner, cell, None, n=4)
    assert min(rest) > 0
    assert first > 10 * max(rest)  # compilation is in the first call, not in later ones
    eager = _tiny(cell).eval()
    with torch.inference_mode():
        expected = eager.to(torch.float32)(parity.example_input(registry.get("ghostnet_050"), 0))
    np.testing.assert_allclose(runner.output(), expected.numpy(), rtol=1e-4, atol=1e-5)


@needs_cuda
@pytest.mark.gpu
@pytest.mark.parametrize(
    ("backend", "precision"),
    [("torch", "fp32"), ("torch", "fp16"), ("torch_cudagraph", "fp32"), ("torch_cudagraph", "fp16")],
)
def test_torch_cuda_runners(backend: str, precision: str) -> None:
    runner = create(backend)
    cell = Cell("ghostnet_050", backend, device="cuda", precision=precision)
    assert all(t > 0 for t in _drive(runner, cell, None, n=5))
    reference = parity.reference_output(registry.get("ghostnet_050"), 0)
    assert _cosine(runner.output(), reference) > (0.9999 if precision == "fp32" else 0.999)


@needs_cuda
@pytest.mark.gpu
def test_torch_compile_on_cuda() -> None:
    runner = create("torch_compile")
    cell = Cell("ghostnet_050", "torch_compile", device="cuda")
    assert all(t > 0 for t in _drive(runner, cell, None, n=3))


def _has_ort_cuda() -> bool:
    if importlib.util.find_spec("onnxruntime") is None:
        return False
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


@needs_cuda
@pytest.mark.gpu
@pytest.mark.skipif(
    not _has_ort_cuda(), reason="onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)"
)
def test_onnxruntime_cuda_ep(onnx_100: Artifact) -> None:
    runner = create("onnxruntime")
    cell = Cell("ghostnet_100", "onnxruntime", device="cuda")
    assert all(t > 0 for t in _drive(runner, cell, onnx_100, n=5))
    reference = parity.reference_output(registry.get("ghostnet_100"), 0)
    assert _cosine(runner.output(), reference) > 0.999


@needs_cuda
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_TENSORRT, reason="tensorrt is not installed (pip install 'ghostbench[tensorrt]')")
def test_tensorrt_runner(artifact_cache: Path) -> None:
    artifact = export("ghostnet_050", "tensorrt", "fp32", cache_dir=artifact_cache)
    runner = create("tensorrt")
    cell = Cell("ghostnet_050", "tensorrt", device="cuda")
    assert all(t > 0 for t in _drive(runner, cell, artifact, n=5))
    reference = parity.reference_output(registry.get("ghostnet_050"), 0)
    assert _cosine(runner.output(), reference) > 0.9999
