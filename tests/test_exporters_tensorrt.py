"""TensorRT engines. The real builds need the ``tensorrt`` package and an NVIDIA GPU and skip, with
that reason, where either is missing; the missing-dependency message is checked everywhere else."""

from __future__ import annotations

import importlib.util
import time

import pytest

from ghostbench.core.errors import GhostbenchError, MissingDependencyError
from ghostbench.exporters import FORMATS, export, lookup

MODEL = "ghostnet_050"
HAVE_TENSORRT = importlib.util.find_spec("tensorrt") is not None


@pytest.mark.skipif(HAVE_TENSORRT, reason="tensorrt is installed: the real builds below run instead")
def test_missing_tensorrt_names_the_extra_and_touches_nothing(tmp_path):
    with pytest.raises(MissingDependencyError, match=r"pip install 'ghostbench\[tensorrt\]'"):
        export(MODEL, "tensorrt", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_tensorrt_precisions(tmp_path):
    assert FORMATS["tensorrt"] == ("fp32", "fp16", "int8")
    with pytest.raises(GhostbenchError, match="does not support precision"):
        export(MODEL, "tensorrt", "int8_dynamic", cache_dir=tmp_path)
    assert not tmp_path.joinpath(MODEL).exists()


@pytest.fixture(scope="module")
def gpu_cache(tmp_path_factory):
    pytest.importorskip("tensorrt", reason="tensorrt is not installed (pip install 'ghostbench[tensorrt]')")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs an NVIDIA GPU with CUDA; torch.cuda.is_available() is False")
    return tmp_path_factory.mktemp("trt")


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.parametrize("precision", FORMATS["tensorrt"])
def test_engine_builds_with_parity(gpu_cache, precision):
    import tensorrt as trt
    import torch

    art = export(MODEL, "tensorrt", precision, cache_dir=gpu_cache)
    assert art.path.suffix == ".engine" and art.size_bytes > 0
    assert art.versions["tensorrt"] == trt.__version__
    assert art.versions["gpu"] == torch.cuda.get_device_name(0)
    onnx_key = lookup(MODEL, "onnx", precision, cache_dir=gpu_cache).key  # the ONNX file it was built from
    assert art.meta["source"] == {"format": "onnx", "precision": precision, "key": onnx_key}
    assert art.meta["input_shape"] == [1, 3, 224, 224] and art.meta["strongly_typed"] is True
    assert art.parity.passed, art.parity
    assert (gpu_cache / "tensorrt").is_dir() and any((gpu_cache / "tensorrt").glob("timing-*.cache"))

    start = time.perf_counter()
    again = export(MODEL, "tensorrt", precision, cache_dir=gpu_cache)
    assert time.perf_counter() - start < 1.0 and again == art
    assert lookup(MODEL, "tensorrt", precision, cache_dir=gpu_cache) == art
