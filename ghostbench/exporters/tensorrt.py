"""TensorRT engines built from the ONNX artifact of the same precision, with the TensorRT Python API.

Precision lives in the ONNX graph and the network is created ``STRONGLY_TYPED``: fp32 from the fp32
ONNX, fp16 from the fp16 ONNX (float32 I/O), int8 from the QDQ ONNX (explicit quantization, the
calibration done once, on a fixed seed, by the ONNX exporter). TensorRT 10 deprecates the
weakly-typed ``BuilderFlag.FP16``/``INT8`` route and implicit-quantization calibrators, and
TensorRT 11 removes them; strongly typed builds work on both.

An engine is tied to the TensorRT version and the GPU it was built on, so both are in the cache key
(through :func:`versions`). The builder's timing cache is kept per (TensorRT version, GPU) next to
the artifacts and reused across builds, which is what makes rebuilding many models fast.
``tensorrt`` is imported lazily; without it every call says which extra to install.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ghostbench.core import atomic
from ghostbench.core.errors import GhostbenchError

if TYPE_CHECKING:
    from ghostbench.core.artifact import Artifact
    from ghostbench.models.registry import ModelSpec

EXTENSION = ".engine"
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")
EXTRA = "tensorrt"


def defaults(precision: str) -> dict:
    return {"workspace_mb": 2048, "optimization_level": 3}


def validate(options: dict) -> str | None:
    """A reason the options are invalid, or None."""
    if options["workspace_mb"] < 1:
        return "workspace_mb must be at least 1"
    if options["optimization_level"] not in range(6):
        return "optimization_level must be 0 to 5 (TensorRT's builder optimization levels)"
    return None


def requirements(precision: str) -> tuple[str, ...]:
    return ("tensorrt", "onnx", "onnxruntime") if precision != "fp32" else ("tensorrt", "onnx", "onnxscript")


def _gpu() -> tuple[str, str]:
    import torch

    if not torch.cuda.is_available():
        raise GhostbenchError(
            "TensorRT engines need an NVIDIA GPU with CUDA; torch.cuda.is_available() is False"
        )
    major, minor = torch.cuda.get_device_capability(0)
    return torch.cuda.get_device_name(0), f"{major}.{minor}"


def versions(precision: str) -> dict[str, str]:
    """TensorRT version and the GPU: an engine only runs where both match."""
    import tensorrt as trt
    import torch

    gpu, capability = _gpu()
    return {
        "tensorrt": trt.__version__,
        "gpu": gpu,
        "compute_capability": capability,
        "cuda": str(torch.version.cuda),
        "torch": metadata.version("torch"),
    }


def source(precision: str, options: dict) -> tuple[str, str, dict] | None:
    return ("onnx", precision, {})


def timing_cache_path(cache_root: Path) -> Path:
    import tensorrt as trt

    gpu, _ = _gpu()
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", gpu).strip("-")
    return cache_root / "tensorrt" / f"timing-{trt.__version__}-{slug}.cache"


def build(
    spec: ModelSpec,
    precision: str,
    options: dict,
    *,
    seed: int,
    out: Path,
    source: Artifact | None,
    cache_root: Path,
) -> dict:
    """Parse the ONNX artifact, build a serialized engine into ``out``; returns its metadata."""
    import tensorrt as trt

    assert source is not None
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(source.path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {source.path.name}: {errors}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options["workspace_mb"] << 20)
    config.builder_optimization_level = options["optimization_level"]
    cache_file = timing_cache_path(cache_root)
    timing_cache = config.create_timing_cache(cache_file.read_bytes() if cache_file.is_file() else b"")
    config.set_timing_cache(timing_cache, ignore_mismatch=False)

    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError("TensorRT build_serialized_network returned no engine (its log is in export.log)")
    out.write_bytes(memoryview(engine))
    atomic.write_bytes(cache_file, memoryview(timing_cache.serialize()))

    inp, outp = network.get_input(0), network.get_output(0)
    return {
        "input_name": inp.name,
        "input_shape": list(inp.shape),
        "input_dtype": np.dtype(trt.nptype(inp.dtype)).name,
        "input_layout": "nchw",
        "output_name": outp.name,
        "output_shape": list(outp.shape),
        "output_dtype": np.dtype(trt.nptype(outp.dtype)).name,
        "strongly_typed": True,
        "layers": network.num_layers,
        "timing_cache": str(cache_file),
    }


def run(path: Path, feed: np.ndarray) -> np.ndarray:
    """One synchronous inference of a batch-1 engine on GPU 0 (tensors held by torch); for parity."""
    import tensorrt as trt
    import torch

    logger = trt.Logger(trt.Logger.WARNING)
    engine = trt.Runtime(logger).deserialize_cuda_engine(path.read_bytes())
    if engine is None:
        raise RuntimeError(f"TensorRT could not deserialize {path}")
    context = engine.create_execution_context()
    outputs: list[torch.Tensor] = []
    keep = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        dtype = torch.from_numpy(np.empty(0, dtype=trt.nptype(engine.get_tensor_dtype(name)))).dtype
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            tensor = torch.from_numpy(np.ascontiguousarray(feed)).to("cuda", dtype)
        else:
            tensor = torch.empty(tuple(engine.get_tensor_shape(name)), dtype=dtype, device="cuda")
            outputs.append(tensor)
        keep.append(tensor)
        context.set_tensor_address(name, tensor.data_ptr())
    stream = torch.cuda.current_stream()
    if not context.execute_async_v3(stream.cuda_stream):
        raise RuntimeError("TensorRT execute_async_v3 failed")
    stream.synchronize()
    return outputs[0].float().cpu().numpy()
