"""The fixed-seed input of every timed window and every parity check, and its conversion to what
an exported graph takes, made with NumPy alone.

One place draws it, so the array a worker times (on this machine, or on a board that has no torch)
is the array the exporter checked parity on: same shape and seed, same values, same layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# Tag of the input stream in NumPy's SeedSequence; calibration images use another tag
# (``exporters.parity.CALIBRATION_STREAM``), so an artifact is never checked on a calibration image.
INPUT_STREAM = 0x1A9


def fixed_input(shape: Sequence[int], seed: int) -> np.ndarray:
    """Standard normal float32 of ``shape`` (NCHW, like a normalised image batch) from PCG64 seeded
    with (:data:`INPUT_STREAM`, ``seed``): its own generator, so global RNG state never matters."""
    rng = np.random.default_rng((INPUT_STREAM, seed))
    return rng.standard_normal(tuple(int(d) for d in shape), dtype=np.float32)


def image_input(size: int, seed: int) -> np.ndarray:
    """The batch-1 ``1 x 3 x size x size`` input of a registry model: what parity checks and what
    the torch backends time."""
    return fixed_input((1, 3, size, size), seed)


def artifact_input(meta: Mapping, seed: int) -> np.ndarray:
    """The fixed-seed NCHW float32 input of an exported model, shaped from its ``input_shape`` and
    ``input_layout`` meta: equal to :func:`example_input` (what parity checked) without the registry,
    so a worker for an artifact backend runs where torch is not installed (an ARM board)."""
    shape = [int(d) for d in meta["input_shape"]]
    if meta.get("input_layout", "nchw") == "nhwc" and len(shape) == 4:
        shape = [shape[0], shape[3], shape[1], shape[2]]
    return fixed_input(shape, seed)


def to_runtime_input(x: torch.Tensor | np.ndarray, meta: Mapping) -> np.ndarray:
    """Turn an NCHW float input into what the artifact takes: its layout (``meta["input_layout"]``)
    and dtype, quantized with ``meta["input_quant"]`` when the graph takes integers."""
    array = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    array = array.astype(np.float32)
    if meta.get("input_layout", "nchw") == "nhwc":
        array = array.transpose(0, 2, 3, 1)
    dtype = np.dtype(meta.get("input_dtype", "float32"))
    quant = meta.get("input_quant")
    if quant:
        info = np.iinfo(dtype)
        array = np.clip(np.round(array / quant["scale"] + quant["zero_point"]), info.min, info.max)
    return np.ascontiguousarray(array.astype(dtype))


def from_runtime_output(y: np.ndarray, meta: Mapping) -> np.ndarray:
    """Float32 logits from the artifact's raw output (dequantized with ``meta["output_quant"]``)."""
    quant = meta.get("output_quant")
    y = np.asarray(y)
    if quant:
        return ((y.astype(np.float32) - quant["zero_point"]) * quant["scale"]).astype(np.float32)
    return y.astype(np.float32)
