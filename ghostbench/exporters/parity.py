"""Numeric parity of an exported artifact against PyTorch eager, on the same fixed-seed input.

An exported file that silently differs from the model (a dropped block, an fp16 overflow, a wrong
layout) makes every latency figure downstream meaningless, so each artifact is run once on CPU
(ONNX Runtime, the LiteRT interpreter; TensorRT on its GPU) and compared with eager PyTorch.

Figures (``ghostbench.core.artifact.Parity``):
- ``max_abs``: max |artifact - eager| over the logits.
- ``max_rel``: ``max_abs / max |eager|``, i.e. relative to the output's scale. Per-element relative
  errors blow up on logits near zero, and random-weight models have small, arbitrary output scales.
- ``cosine``: cosine similarity of the flattened logits.

Thresholds per precision are in :data:`THRESHOLDS` and ``docs/exporters.md``. A failure is
recorded in the artifact (``passed=False``) and shown; it never raises.

The layout and dtype conversion both sides share (``to_runtime_input``) is in ``core/inputs.py``,
which ships to boards; torch and the runtimes are imported inside the functions here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ghostbench.core.artifact import Artifact, Parity
from ghostbench.core.inputs import from_runtime_output, image_input, to_runtime_input

if TYPE_CHECKING:
    import torch

    from ghostbench.models.registry import ModelSpec

# Calibration images come from NumPy's PCG64 seeded with (this tag, calibration_seed), parity inputs
# from ``core.inputs.fixed_input`` (another tag): different streams, so an artifact is never
# checked on a calibration image.
CALIBRATION_STREAM = 0xCA1


@dataclass(frozen=True)
class Threshold:
    """An artifact passes when ``cosine >= cosine_min`` and ``max_rel <= max_rel_max``."""

    cosine_min: float
    max_rel_max: float


# Set above the worst cases measured on the registry (random weights): docs/exporters.md, Parity.
THRESHOLDS: dict[str, Threshold] = {
    "fp32": Threshold(cosine_min=0.9999, max_rel_max=1e-3),
    "fp16": Threshold(cosine_min=0.999, max_rel_max=0.05),
    "int8_dynamic": Threshold(cosine_min=0.95, max_rel_max=0.5),
    "int8": Threshold(cosine_min=0.95, max_rel_max=0.5),
}


def example_input(spec: ModelSpec, seed: int = 0) -> torch.Tensor:
    """The fixed-seed input every backend sees: ``1 x 3 x H x W`` float32, standard normal (like a
    normalised image). It is ``core.inputs.fixed_input``, which the torch-free workers draw too."""
    import torch

    return torch.from_numpy(image_input(spec.input_size, seed))


def calibration_inputs(spec: ModelSpec, count: int, seed: int) -> list[torch.Tensor]:
    """``count`` representative inputs for int8 calibration (standard normal, like
    :func:`example_input`), reproducible from ``seed``."""
    import torch

    rng = np.random.default_rng((CALIBRATION_STREAM, seed))
    shape = (1, 3, spec.input_size, spec.input_size)
    return [torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)) for _ in range(count)]


def reference_output(spec: ModelSpec, seed: int = 0) -> np.ndarray:
    """Eager PyTorch fp32 logits of the model built with weight seed ``seed`` on ``example_input(seed)``."""
    import torch

    model = spec.build(seed=seed)
    with torch.inference_mode():
        return model(example_input(spec, seed)).float().numpy()


def verdict(result: Parity, precision: str, source_passed: bool | None = None) -> Parity:
    """``result`` judged by today's threshold for ``precision`` (figures unchanged), so verdicts
    cached under older thresholds are brought up to date without re-running anything.

    A derived artifact (quantized, or an engine) also fails when the artifact it was made from
    failed: its own looser thresholds cannot tell a conversion bug from quantization noise.
    """
    threshold = THRESHOLDS[precision]
    finite = bool(np.isfinite(result.max_abs))
    passed = finite and result.cosine >= threshold.cosine_min and result.max_rel <= threshold.max_rel_max
    limits: dict = asdict(threshold)
    if source_passed is not None:
        limits["source_passed"] = source_passed
        passed = passed and source_passed
    return Parity(result.max_abs, result.max_rel, result.cosine, bool(passed), limits)


def compare(reference: np.ndarray, output: np.ndarray, precision: str) -> Parity:
    """Parity figures of ``output`` against ``reference`` and the verdict for ``precision``."""
    ref = np.asarray(reference, dtype=np.float64).ravel()
    out = np.asarray(output, dtype=np.float64).ravel()
    if ref.shape != out.shape:
        return verdict(Parity(float("inf"), float("inf"), float("nan"), False), precision)
    max_abs = float(np.max(np.abs(out - ref)))
    scale = float(np.max(np.abs(ref)))
    max_rel = max_abs / scale if scale > 0 else float("inf")
    norms = float(np.linalg.norm(ref) * np.linalg.norm(out))
    cosine = float(np.dot(ref, out) / norms) if norms > 0 else float("nan")
    return verdict(Parity(max_abs=max_abs, max_rel=max_rel, cosine=cosine, passed=False), precision)


def _run_onnx(path: Path, feed: np.ndarray, meta: Mapping) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {meta["input_name"]: feed})[0]


def _run_tflite(path: Path, feed: np.ndarray, meta: Mapping) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], feed)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def run_artifact(artifact: Artifact, x: torch.Tensor) -> np.ndarray:
    """Run ``artifact`` once on the NCHW float input ``x``; float32 logits."""
    feed = to_runtime_input(x, artifact.meta)
    if artifact.format == "onnx":
        raw = _run_onnx(artifact.path, feed, artifact.meta)
    elif artifact.format == "tflite":
        raw = _run_tflite(artifact.path, feed, artifact.meta)
    elif artifact.format == "tensorrt":
        from ghostbench.exporters import tensorrt

        raw = tensorrt.run(artifact.path, feed)
    else:
        raise ValueError(f"no parity runner for format {artifact.format!r}")
    return from_runtime_output(raw, artifact.meta)


def check(artifact: Artifact, spec: ModelSpec, seed: int = 0) -> Parity:
    """Run ``artifact`` and eager PyTorch on ``example_input(spec, seed)`` and compare them."""
    reference = reference_output(spec, seed)
    output = run_artifact(artifact, example_input(spec, seed))
    return compare(reference, output, artifact.precision)
