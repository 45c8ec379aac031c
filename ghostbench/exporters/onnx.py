"""ONNX artifacts: fp32 from ``torch.onnx.export`` (dynamo), fp16 and int8 derived from that file.

- fp32: the dynamo exporter at a fixed opset with batch 1, one self-contained file (no external-data
  sidecar) and the onnxscript optimizer (constant folding, BN folding) as the simplification pass;
  the parity check decides whether it kept the numbers. ``onnx.checker`` validates the result.
- fp16: ONNX Runtime's float16 converter (``OnnxModel.convert_float_to_float16``) with float32
  I/O (``keep_io_types``), the form TensorRT builds a strongly typed fp16 engine from.
- int8: ``onnxruntime.quantization.quantize_static`` in QDQ format with symmetric per-channel
  weights and symmetric activations (what TensorRT's explicit quantization needs), calibrated on a
  fixed-seed representative set.
"""

from __future__ import annotations

import collections
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from ghostbench.exporters import parity

if TYPE_CHECKING:
    from ghostbench.core.artifact import Artifact
    from ghostbench.models.registry import ModelSpec

EXTENSION = ".onnx"
# torch.onnx.export has segfaulted under a memory limit (ulimit -v 1.5 GB): convert in a child.
ISOLATE = True
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")
EXTRA = "onnx"
OPSET = 20  # torch's default for the dynamo exporter; TensorRT 10's ONNX parser reads it
INPUT_NAME, OUTPUT_NAME = "input", "logits"


def defaults(precision: str) -> dict:
    options: dict = {"opset": OPSET, "optimize": True}
    if precision == "int8":
        options |= {"calibration_samples": 16, "calibration_seed": 0}
    return options


def validate(options: dict) -> str | None:
    """A reason the options are invalid, or None."""
    if not isinstance(options["opset"], int) or options["opset"] < 18:
        return f"onnx opset must be an integer >= 18 (the dynamo exporter's range), not {options['opset']!r}"
    if options.get("calibration_samples", 1) < 1:
        return "calibration_samples must be at least 1"
    return None


def requirements(precision: str) -> tuple[str, ...]:
    """Import names this precision needs (checked before anything runs)."""
    return ("onnx", "onnxscript") if precision == "fp32" else ("onnx", "onnxruntime")


def versions(precision: str) -> dict[str, str]:
    dists = ["torch", "onnx", "onnxscript"] if precision == "fp32" else ["onnx", "onnxruntime"]
    return {dist: metadata.version(dist) for dist in dists}


def source(precision: str, options: dict) -> tuple[str, str, dict] | None:
    """fp16 and int8 are made from the fp32 file exported with the same opset and optimizer setting."""
    if precision == "fp32":
        return None
    return ("onnx", "fp32", {"opset": options["opset"], "optimize": options["optimize"]})


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
    """Write the artifact to ``out``; returns its metadata."""
    import onnx

    if precision == "fp32":
        _export_fp32(spec, options, seed, out)
    elif precision == "fp16":
        assert source is not None
        from onnxruntime.transformers.onnx_model import OnnxModel

        half = OnnxModel(onnx.load(source.path))
        half.convert_float_to_float16(use_symbolic_shape_infer=False, keep_io_types=True)
        half.topological_sort()  # the converter appends the output Casts last
        onnx.save(half.model, out)
    else:
        assert source is not None
        _quantize_int8(spec, options, source.path, out)
    model = onnx.load(out)
    onnx.checker.check_model(model, full_check=True)
    return describe(model)


def _export_fp32(spec: ModelSpec, options: dict, seed: int, out: Path) -> None:
    import torch

    torch.onnx.export(
        spec.build(seed=seed),
        (parity.example_input(spec, seed),),
        out,
        dynamo=True,
        external_data=False,
        opset_version=options["opset"],
        optimize=options["optimize"],
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        verbose=False,
    )


def _quantize_int8(spec: ModelSpec, options: dict, fp32_path: Path, out: Path) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    samples = parity.calibration_inputs(spec, options["calibration_samples"], options["calibration_seed"])

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds = iter({INPUT_NAME: x.numpy()} for x in samples)

        def get_next(self) -> dict | None:
            return next(self._feeds, None)

    quantize_static(
        fp32_path,
        out,
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
    )


def describe(model) -> dict:
    """Facts a runner needs (input name/shape/dtype, opset) plus the op census."""
    import onnx

    def tensor(value) -> tuple[str, list[int], str]:
        ttype = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in ttype.shape.dim]
        return value.name, dims, onnx.helper.tensor_dtype_to_np_dtype(ttype.elem_type).name

    in_name, in_shape, in_dtype = tensor(model.graph.input[0])
    out_name, out_shape, out_dtype = tensor(model.graph.output[0])
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return {
        "opset": opset,
        "input_name": in_name,
        "input_shape": in_shape,
        "input_dtype": in_dtype,
        "input_layout": "nchw",
        "output_name": out_name,
        "output_shape": out_shape,
        "output_dtype": out_dtype,
        "nodes": len(model.graph.node),
        "ops": dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items())),
    }
