"""A user's own ``.onnx`` or ``.tflite`` file as a model: what its graph takes (input name, shape,
layout, dtype and quantization) and at which precision it computes, read from the file, so it is
timed as it is and described in a row without a PyTorch definition.

The file is checked here, once, with a one-line error naming it: a missing file, another suffix,
content that is not the format its suffix says (or is truncated), more than one input, an input
that is not one square image (NCHW or NHWC, batch 1), or a variable image size without
``--input-size``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ghostbench.core.artifact import file_sha256
from ghostbench.core.errors import GhostbenchError, MissingDependencyError
from ghostbench.models.graph_counts import (
    GraphCounts,
    TfliteGraph,
    count_onnx,
    count_tflite,
    dequantized_sources,
    read_tflite,
    stored_weight,
)

FORMATS: dict[str, str] = {".onnx": "onnx", ".tflite": "tflite"}
TFLITE_IDENTIFIER = b"TFL3"  # the flatbuffer file identifier, bytes 4..8
ONNX_INT8_OPS = frozenset(
    {"QLinearConv", "QLinearMatMul", "QuantizeLinear", "DequantizeLinear", "ConvInteger", "MatMulInteger"}
)
QUANT_READERS = ("DequantizeLinear", "QLinearConv", "QLinearMatMul")
# TFLite ops with a weight, and the input slot of the activation they apply it to.
TFLITE_WEIGHTED = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 0, "TRANSPOSE_CONV": 2, "FULLY_CONNECTED": 0}
INTEGER = ("int8", "uint8", "int16")
CHANNELS = (1, 3)


@dataclass(frozen=True)
class ModelFile:
    path: Path  # resolved absolute
    format: str  # "onnx" | "tflite"
    sha256: str
    input_name: str
    input_shape: tuple[int, ...]  # static, batch 1, as the graph takes it (NHWC when channels-last)
    input_layout: str  # "nchw" | "nhwc"
    input_dtype: str  # numpy dtype name
    input_quant: dict | None  # {"scale", "zero_point"} of an integer input, else None
    precision: str  # one of core.cell.PRECISIONS, inferred from the graph
    image_size: int  # H (== W) of the image the graph takes
    num_classes: int | None = None  # N of a (1, N) first output: a classifier's logits; else None

    def meta(self) -> dict:
        """The artifact meta keys the runners read to feed the file its input."""
        meta: dict = {
            "input_name": self.input_name,
            "input_shape": list(self.input_shape),
            "input_layout": self.input_layout,
            "input_dtype": self.input_dtype,
            "source": "file",
        }
        if self.input_quant is not None:
            meta["input_quant"] = dict(self.input_quant)
        return meta


@dataclass(frozen=True)
class _Input:
    """What a graph says of its one input: dims with None where symbolic or dynamic."""

    name: str
    dims: tuple[int | None, ...]
    dtype: str
    quant: dict | None
    precision: str
    output: tuple[int | None, ...] = ()  # the first output's dims


def refusal(
    file_format: str, file_precision: str, path: object, fmt: str | None, precision: str
) -> str | None:
    """Why a model file cannot be timed as a ``fmt`` artifact at ``precision`` (None if it can): the
    file is its own artifact at its own precision; the one thing made from it is a TensorRT engine
    of an ONNX file. ``fmt`` None is a backend that reads no artifact (PyTorch)."""
    made = (file_format, "tensorrt") if file_format == "onnx" else (file_format,)
    kind = f"the {file_precision} {file_format} file {path}"
    if fmt not in made:
        return f"is {kind}: only {' and '.join(made)} artifacts are timed from it"
    if precision != file_precision:
        return f"is {kind}: it is timed as it is, at {file_precision}, not {precision}"
    return None


def describe(path: str | os.PathLike, input_size: int | None = None) -> ModelFile:
    """The model file at ``path``, checked and described; ``input_size`` sizes a graph whose image
    size is symbolic (and must match one whose size is fixed)."""
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise GhostbenchError(f"model file not found: {file}")
    fmt = FORMATS.get(file.suffix.lower())
    if fmt is None:
        raise GhostbenchError(f"{file} is not a model file: ghostbench reads {' and '.join(FORMATS)} files")
    found = _onnx_input(file) if fmt == "onnx" else _tflite_input(file)
    shape, layout = _image_shape(file, found.dims, input_size)
    out = found.output
    return ModelFile(
        path=file,
        format=fmt,
        sha256=file_sha256(file),
        input_name=found.name,
        input_shape=shape,
        input_layout=layout,
        input_dtype=found.dtype,
        input_quant=found.quant,
        precision=found.precision,
        image_size=shape[2] if layout == "nchw" else shape[1],
        num_classes=out[1] if len(out) == 2 and out[0] in (None, 1) and out[1] else None,
    )


def counts(model_file: ModelFile) -> GraphCounts:
    """Params, MACs and activations of the file's graph, at the input shape it is timed with."""
    if model_file.format == "onnx":
        return count_onnx(model_file.path, input_shape=model_file.input_shape)
    return count_tflite(model_file.path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _image_shape(
    path: Path, dims: tuple[int | None, ...], input_size: int | None
) -> tuple[tuple[int, ...], str]:
    """The static batch-1 shape and layout of a 4-D square image input."""
    shown = "x".join("?" if d is None else str(d) for d in dims)
    if len(dims) != 4:
        raise GhostbenchError(f"{path} takes a {len(dims)}-D input ({shown}); ghostbench times 4-D images")
    if dims[1] in CHANNELS:
        layout, (h, w) = "nchw", dims[2:]
    elif dims[3] in CHANNELS:
        layout, (h, w) = "nhwc", dims[1:3]
    else:
        raise GhostbenchError(f"{path} takes {shown} input: no 1- or 3-channel axis (NCHW or NHWC)")
    if dims[0] not in (None, 1):
        raise GhostbenchError(f"{path} takes batches of {dims[0]}; ghostbench times batch 1")
    if input_size is None and None in (h, w):
        raise GhostbenchError(f"{path} takes a variable image size; pass --input-size")
    if input_size is not None and any(d not in (None, input_size) for d in (h, w)):
        size = f"{h or '?'}x{w or '?'}"
        raise GhostbenchError(f"{path} takes {size} images; --input-size {input_size} does not fit")
    h, w = h or input_size, w or input_size
    if h != w:
        raise GhostbenchError(f"{path} takes {h}x{w} images; ghostbench times square images")
    channels = dims[1] if layout == "nchw" else dims[3]
    return ((1, channels, h, w) if layout == "nchw" else (1, h, w, channels)), layout


def _onnx_input(path: Path) -> _Input:
    try:
        import onnx
    except ImportError:
        raise MissingDependencyError("onnx", "onnx", f"reading {path.name}") from None
    try:
        model = onnx.load(os.fspath(path))
        if not model.graph.node:
            raise ValueError("the graph has no nodes")
    except Exception as exc:  # protobuf's DecodeError, onnx's own, OSError for external data
        raise GhostbenchError(
            f"{path} is not a readable ONNX model (truncated?): {_first_line(exc)}"
        ) from None
    graph = model.graph
    stored = {i.name for i in graph.initializer}
    inputs = [v for v in graph.input if v.name not in stored]
    if len(inputs) != 1:
        raise GhostbenchError(f"{path} has {len(inputs)} inputs; ghostbench times 1-input models")
    value = inputs[0].type.tensor_type
    dims = tuple(
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in value.shape.dim
    )
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(value.elem_type).name
    except KeyError:
        raise GhostbenchError(f"{path}: input {inputs[0].name} has no element type") from None
    first = graph.output[0].type.tensor_type if graph.output else None
    output = tuple(
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
        for d in (first.shape.dim if first is not None and first.HasField("shape") else ())
    )
    quant = _onnx_input_quant(graph, inputs[0].name)
    return _Input(inputs[0].name, dims, dtype, quant, _onnx_precision(graph), output)


def _onnx_input_quant(graph: object, name: str) -> dict | None:
    """The scale and zero point of an integer input, given with it to the op that reads it first
    (a DequantizeLinear, QLinearConv or QLinearMatMul: inputs 1 and 2 in each)."""
    from onnx import numpy_helper

    init = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if node.op_type in QUANT_READERS and node.input[0] == name:
            scale = init.get(node.input[1])
            zero = init.get(node.input[2]) if len(node.input) > 2 else None
            if scale is None or math.prod(scale.dims) != 1:
                return None
            zero_point = int(numpy_helper.to_array(zero).item()) if zero is not None else 0
            return {"scale": float(numpy_helper.to_array(scale).item()), "zero_point": zero_point}
    return None


def _onnx_precision(graph: object) -> str:
    """int8_dynamic (quantized on the fly), int8 (quantized ops or QDQ), else what most of the
    float weights are stored as."""
    from onnx import TensorProto

    ops = {n.op_type for n in graph.node}
    if "DynamicQuantizeLinear" in ops:
        return "int8_dynamic"
    if ops & ONNX_INT8_OPS:
        return "int8"
    floats = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16)
    elements = {t: 0 for t in floats}
    for tensor in graph.initializer:
        if tensor.data_type in elements:
            elements[tensor.data_type] += math.prod(tensor.dims)
    return "fp16" if 2 * elements[TensorProto.FLOAT16] > sum(elements.values()) else "fp32"


def _tflite_input(path: Path) -> _Input:
    with path.open("rb") as fh:
        head = fh.read(8)
    if head[4:8] != TFLITE_IDENTIFIER:
        raise GhostbenchError(f"{path} is not a TFLite file")
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        raise MissingDependencyError("ai-edge-litert", "tflite", f"reading {path.name}") from None
    try:
        # No allocate_tensors: the input details are known from the model alone.
        interpreter = Interpreter(
            model_path=str(path),
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        details = interpreter.get_input_details()
        outputs = interpreter.get_output_details()
        signature = next(iter(interpreter.get_signature_list().values()), {})
        graph = read_tflite(path)
    except Exception as exc:  # the interpreter's ValueError/RuntimeError, flatbuffer reads past the end
        raise GhostbenchError(
            f"{path} is not a readable TFLite model (truncated?): {_first_line(exc)}"
        ) from None
    if len(details) != 1:
        raise GhostbenchError(f"{path} has {len(details)} inputs; ghostbench times 1-input models")
    detail = details[0]
    signature_dims = detail.get("shape_signature", detail["shape"])
    dims = tuple(int(d) if d > 0 else None for d in signature_dims)
    dtype = np.dtype(detail["dtype"]).name
    scale, zero_point = detail.get("quantization", (0.0, 0))
    quant = {"scale": float(scale), "zero_point": int(zero_point)} if scale else None
    name = signature.get("inputs", [detail["name"]])[0]
    output = tuple(int(d) if d > 0 else None for d in outputs[0].get("shape_signature", outputs[0]["shape"]))
    return _Input(name, dims, dtype, quant, _tflite_precision(graph, dtype), output if outputs else ())


def _tflite_precision(graph: TfliteGraph, input_dtype: str) -> str:
    """int8 (integer weights applied to integer activations), int8_dynamic (integer weights,
    float activations: dynamic range quantization), fp16 (float16 weights), else fp32."""
    dequantized = dequantized_sources(graph)
    integer_weights, integer_activations = False, input_dtype in INTEGER
    for op in graph.ops:
        if op.name not in TFLITE_WEIGHTED or len(op.inputs) < 2:
            continue
        weight = stored_weight(op.inputs[1], dequantized)
        data = op.inputs[TFLITE_WEIGHTED[op.name]]
        if weight is not None and weight.dtype in ("int8", "uint8", "int4"):
            integer_weights = True
            integer_activations |= data is not None and data.dtype in INTEGER
    if integer_weights:
        return "int8" if integer_activations else "int8_dynamic"
    halves = any(t is not None and t.constant and t.dtype == "float16" for op in graph.ops for t in op.inputs)
    return "fp16" if halves else "fp32"
