"""Complexity counted from an ONNX or TFLite graph, for a model that exists only as a file: the
same three definitions as ``models/complexity.py``, read from the graph instead of the modules.

- ``params``: elements of the constant tensors that are learned weights. ONNX: a Conv's,
  ConvTranspose's or Gemm's weight and bias, a MatMul's constant operand, a BatchNormalization's
  scale and bias (not its running mean and variance, which torch keeps as buffers), a PRelu's
  slope, and a constant operand of an Add or Mul that has more than one element (a bias or scale
  applied on its own); the weight and bias of QLinearConv, ConvInteger, QLinearMatMul and
  MatMulInteger. TFLite: the weight and bias of CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV and
  FULLY_CONNECTED, a constant operand of BATCH_MATMUL, PRELU's alpha, and a constant operand of
  ADD or MUL with more than one element. A weight stored quantized or as float16 and expanded by a
  DequantizeLinear / Cast (ONNX) or DEQUANTIZE (TFLite) is counted once, at its stored tensor.
  Float tensors count, integer ones only as quantized weights (an int8 weight or int32 bias behind
  a dequantize, in a quantized op's weight slot, or carrying TFLite quantization parameters), so
  an int8 model counts its int8 weights and int32 biases. Shape constants (plain integer tensors)
  and scalars are not weights. ONNX counts each initializer once (a weight two nodes share is one
  parameter, as in torch); TFLite counts each op's weight, since its converter merges constants of
  equal value into one tensor (two zero-initialized biases) and a CNN seldom shares a weight
  between two layers.
- ``macs``: multiply-accumulates of the convolutions and matrix products (what
  ``torch.utils.flop_counter`` counts, halved), from the shapes ONNX shape inference gives or the
  TFLite tensors hold. TFLite weights are OHWI (depthwise 1HWC): CONV_2D does ``kh*kw*cin/groups``
  per output element, DEPTHWISE_CONV_2D ``kh*kw``, FULLY_CONNECTED and BATCH_MATMUL ``K``, and
  TRANSPOSE_CONV ``kh*kw*cout`` per input element.
- ``activations``: elements of every convolution's output (Radosavovic et al. 2020).

A figure that cannot be counted (a shape left symbolic or dynamic, an op whose work is unknown
here) is None with the reason in ``why``: never a guess. A TFLite model is counted on its main
subgraph; one that has more (control flow) gets no MACs.

``params`` counts what the graph holds. ghostbench's own exports (``exporters/onnx.py``,
``exporters/tflite.py``) fold each BatchNorm into its conv (its scale and bias become the conv's
weights and a bias of C elements) and the ONNX one drops biases that are all zero, so their graph
holds fewer weights than the torch model has parameters; MACs and activations are the same, and
an unfolded ONNX export holds exactly the torch parameters (``benchmarks/graph_counts.py``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

# op -> input slots that hold learned tensors
WEIGHT_INPUTS: dict[str, tuple[int, ...]] = {
    "Conv": (1, 2),
    "ConvTranspose": (1, 2),
    "Gemm": (0, 1, 2),
    "MatMul": (0, 1),
    "BatchNormalization": (1, 2),
    "PRelu": (1,),
    "Add": (0, 1),
    "Mul": (0, 1),
    "QLinearConv": (3, 8),
    "ConvInteger": (1,),
    "QLinearMatMul": (0, 3),
    "MatMulInteger": (0, 1),
}
# Ops whose integer weights are quantized learned tensors (not shape constants).
QUANTIZED_OPS = ("QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulInteger")
# Ops that apply a learned tensor only when it is more than a scalar (a bias, a layer scale).
ELEMENTWISE = ("Add", "Mul")
# op -> (data input, weight input) of the ops whose MACs are counted
MAC_OPS: dict[str, tuple[int, int]] = {
    "Conv": (0, 1),
    "ConvInteger": (0, 1),
    "QLinearConv": (0, 3),
    "ConvTranspose": (0, 1),
    "Gemm": (0, 1),
    "MatMul": (0, 1),
    "MatMulInteger": (0, 1),
    "QLinearMatMul": (0, 3),
}
CONV_OPS = ("Conv", "ConvInteger", "QLinearConv", "ConvTranspose")
# Ops that carry a stored tensor to its consumer unchanged but for its type.
PASS_THROUGH = ("DequantizeLinear", "Cast", "Identity")
# Ops that do multiply-accumulate work this counter cannot size.
UNCOUNTED_ONNX = (
    "Einsum",
    "QGemm",
    "FusedConv",
    "FusedMatMul",
    "Attention",
    "LSTM",
    "GRU",
    "RNN",
    "Loop",
    "If",
    "Scan",
)

TFLITE_WEIGHT_INPUTS: dict[str, tuple[int, ...]] = {
    "CONV_2D": (1, 2),
    "DEPTHWISE_CONV_2D": (1, 2),
    "TRANSPOSE_CONV": (1, 3),
    "FULLY_CONNECTED": (1, 2),
    "BATCH_MATMUL": (0, 1),
    "PRELU": (1,),
    "ADD": (0, 1),
    "MUL": (0, 1),
}
TFLITE_ELEMENTWISE = ("ADD", "MUL")
TFLITE_CONV = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")
TFLITE_MAC_OPS = (*TFLITE_CONV, "FULLY_CONNECTED", "BATCH_MATMUL")
UNCOUNTED_TFLITE = (
    "CONV_3D",
    "CONV_3D_TRANSPOSE",
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "BIDIRECTIONAL_SEQUENCE_LSTM",
    "LSTM",
    "UNIDIRECTIONAL_SEQUENCE_RNN",
    "RNN",
    "STABLEHLO_CONVOLUTION",
    "STABLEHLO_DOT_GENERAL",
    "WHILE",
    "IF",
    "CALL_ONCE",
    "CUSTOM",
)


@dataclass(frozen=True)
class GraphCounts:
    params: int | None
    macs: int | None
    activations: int | None
    why: str = ""


def _dims(value_info: object) -> tuple[int, ...] | None:
    """Static dims of a tensor's type, or None when one is symbolic or unknown."""
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    dims = []
    for d in tensor.shape.dim:
        if not d.HasField("dim_value"):
            return None
        dims.append(int(d.dim_value))
    return tuple(dims)


def _constants(graph: object) -> dict[str, object]:
    """The graph's stored tensors by name: initializers and the values of Constant nodes (some
    exporters keep weights in those)."""
    constants = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None:
                constants[node.output[0]] = value
    return constants


def _set_input_shape(graph: object, shape: tuple[int, ...]) -> None:
    """Give the graph's image input (its first input that is not an initializer) static dims."""
    stored = {i.name for i in graph.initializer}
    value = next(v for v in graph.input if v.name not in stored)
    dims = value.type.tensor_type.shape.dim
    if len(dims) != len(shape):
        raise ValueError(f"input {value.name} has {len(dims)} dims, not {len(shape)}")
    for dim, size in zip(dims, shape, strict=True):
        dim.Clear()
        dim.dim_value = int(size)


def count_onnx(path: str | os.PathLike, input_shape: tuple[int, ...] | None = None) -> GraphCounts:
    """Params, MACs and activations of the ONNX model at ``path``, its input shaped ``input_shape``
    (so a graph with a symbolic batch or image size is counted at batch 1 and the user's size),
    else as stored."""
    import onnx
    from onnx import TensorProto

    model = onnx.load(os.fspath(path))
    if input_shape is not None:
        _set_input_shape(model.graph, input_shape)
    model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    graph = model.graph
    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
    init = _constants(graph)
    producer = {n.output[0]: n for n in graph.node if n.op_type in PASS_THROUGH and n.output}
    shapes: dict[str, tuple[int, ...] | None] = {
        v.name: _dims(v) for v in (*graph.input, *graph.value_info, *graph.output)
    }
    shapes.update({name: tuple(int(d) for d in t.dims) for name, t in init.items()})
    weights: set[str] = set()
    macs, activations, unshaped, uncounted = 0, 0, [], []
    for node in graph.node:
        for i in WEIGHT_INPUTS.get(node.op_type, ()):
            name = node.input[i] if i < len(node.input) else ""
            # Back through a dequantize or cast to the tensor the file stores.
            quantized = node.op_type in QUANTIZED_OPS
            while name not in init and name in producer:
                quantized |= producer[name].op_type == "DequantizeLinear"
                name = producer[name].input[0]
            tensor = init.get(name)
            if tensor is None or not (tensor.data_type in floats or quantized):
                continue
            if node.op_type in ELEMENTWISE and math.prod(tensor.dims) <= 1:
                continue
            weights.add(name)
        where = f"{node.op_type} {node.name or node.output[0]}"
        if node.op_type in UNCOUNTED_ONNX:
            uncounted.append(where)
        if node.op_type not in MAC_OPS:
            continue
        work = _macs(node, shapes)
        if work is None:
            unshaped.append(where)
            continue
        macs += work
        if node.op_type in CONV_OPS:
            activations += math.prod(shapes[node.output[0]])
    params = sum(math.prod(init[name].dims) for name in weights)
    why = _why(unshaped, uncounted)
    return GraphCounts(params, None, None, why) if why else GraphCounts(params, macs, activations)


def _why(unshaped: list[str], uncounted: list[str]) -> str:
    """Why MACs are not counted: ops without the shapes they need, ops whose work is unknown."""
    if unshaped:
        return f"shapes not static for {len(unshaped)} op(s), e.g. {unshaped[0]}"
    if uncounted:
        return f"work not counted here for {len(uncounted)} op(s), e.g. {uncounted[0]}"
    return ""


def _attr(node: object, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(a.i)
    return default


def _macs(node: object, shapes: dict[str, tuple[int, ...] | None]) -> int | None:
    """Multiply-accumulates of one node, or None when a shape it needs is not static."""
    data, weight_at = MAC_OPS[node.op_type]
    a = shapes.get(node.input[data])
    weight = shapes.get(node.input[weight_at])
    out = shapes.get(node.output[0])
    if out is None or a is None or weight is None:
        return None
    if node.op_type == "ConvTranspose":  # weight (C_in, C_out / group, k...)
        return math.prod(a) * math.prod(weight[1:])
    if node.op_type in CONV_OPS:  # weight (C_out, C_in / group, k...)
        return math.prod(out) * math.prod(weight[1:])
    if node.op_type == "Gemm":
        k = a[0] if _attr(node, "transA", 0) else a[1]
        return math.prod(out) * k
    return math.prod(out) * (a[-1] if len(a) > 1 else a[0])  # (..., M, K) x (..., K, N)


@dataclass(frozen=True)
class TfliteTensor:
    """What the counters need of one TFLite tensor, read from the flatbuffer."""

    index: int
    name: str
    dtype: str  # numpy-style name of the TFLite type: float32, float16, int8, ...
    shape: tuple[int, ...]
    dynamic: bool  # a -1 in its shape signature
    constant: bool  # backed by a non-empty buffer
    quantized: bool  # carries quantization scales


@dataclass(frozen=True)
class TfliteOp:
    name: str  # the builtin operator's name, e.g. CONV_2D
    inputs: tuple[TfliteTensor | None, ...]  # None for an omitted optional input
    outputs: tuple[TfliteTensor, ...]
    adj_x: bool = False  # BATCH_MATMUL's transposed left operand


@dataclass(frozen=True)
class TfliteGraph:
    subgraphs: int
    inputs: tuple[TfliteTensor, ...]
    ops: tuple[TfliteOp, ...]


def read_tflite(path: str | os.PathLike) -> TfliteGraph:
    """The main subgraph of the TFLite flatbuffer at ``path``, read with the schema LiteRT ships."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(Path(path).read_bytes(), 0)
    op_names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    type_names = {
        code: name.lower() for name, code in vars(schema.TensorType).items() if not name.startswith("_")
    }
    graph = model.Subgraphs(0)

    def tensor(i: int) -> TfliteTensor:
        t = graph.Tensors(i)
        buffer = model.Buffers(t.Buffer()) if t.Buffer() else None
        signature = [int(d) for d in t.ShapeSignatureAsNumpy()] if t.ShapeSignatureLength() else []
        quant = t.Quantization()
        return TfliteTensor(
            index=i,
            name=(t.Name() or b"").decode(errors="replace"),
            dtype=type_names.get(t.Type(), f"type{t.Type()}"),
            shape=tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else (),
            dynamic=-1 in signature,
            constant=buffer is not None and (buffer.DataLength() > 0 or buffer.Size() > 0),
            quantized=quant is not None and quant.ScaleLength() > 0,
        )

    tensors = [tensor(i) for i in range(graph.TensorsLength())]
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        adj_x = False
        if name == "BATCH_MATMUL" and op.BuiltinOptions() is not None:
            options = schema.BatchMatMulOptions()
            options.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
            adj_x = bool(options.AdjX())
        ins = tuple(tensors[j] if j >= 0 else None for j in (op.InputsAsNumpy() if op.InputsLength() else ()))
        outs = tuple(tensors[j] for j in (op.OutputsAsNumpy() if op.OutputsLength() else ()) if j >= 0)
        ops.append(TfliteOp(name, ins, outs, adj_x))
    inputs = tuple(tensors[j] for j in (graph.InputsAsNumpy() if graph.InputsLength() else ()))
    return TfliteGraph(model.SubgraphsLength(), inputs, tuple(ops))


def stored_weight(tensor: TfliteTensor | None, dequantized: dict[int, TfliteTensor]) -> TfliteTensor | None:
    """The constant a weight input holds: itself, or the stored tensor a DEQUANTIZE expands."""
    if tensor is not None and not tensor.constant:
        tensor = dequantized.get(tensor.index)
    return tensor if tensor is not None and tensor.constant else None


def dequantized_sources(graph: TfliteGraph) -> dict[int, TfliteTensor]:
    """Output tensor index -> the constant each DEQUANTIZE of a constant expands."""
    return {
        op.outputs[0].index: op.inputs[0]
        for op in graph.ops
        if op.name == "DEQUANTIZE" and op.inputs and op.inputs[0] is not None and op.inputs[0].constant
    }


def count_tflite(path: str | os.PathLike) -> GraphCounts:
    """Params, MACs and activations of the TFLite model at ``path`` at its stored input shape
    (float32 or float16 weights, or an integer model's int8 weights and int32 biases)."""
    graph = read_tflite(path)
    dequantized = dequantized_sources(graph)
    # Elements per use, not per tensor: converters merge constants of equal value (two zero-init
    # biases) into one tensor, which torch counts as two parameters.
    params = 0
    macs, activations, unshaped, uncounted = 0, 0, [], []
    for op in graph.ops:
        for i in TFLITE_WEIGHT_INPUTS.get(op.name, ()):
            tensor = stored_weight(op.inputs[i] if i < len(op.inputs) else None, dequantized)
            if tensor is None or not (tensor.dtype.startswith(("float", "bfloat")) or tensor.quantized):
                continue
            elements = math.prod(tensor.shape)
            if op.name in TFLITE_ELEMENTWISE and elements <= 1:
                continue
            params += elements
        where = f"{op.name} {op.outputs[0].name if op.outputs else ''}".strip()
        if op.name in UNCOUNTED_TFLITE:
            uncounted.append(where)
        if op.name not in TFLITE_MAC_OPS:
            continue
        work = _tflite_macs(op)
        if work is None:
            unshaped.append(where)
            continue
        macs += work
        if op.name in TFLITE_CONV:
            activations += math.prod(op.outputs[0].shape)
    if graph.subgraphs > 1:
        return GraphCounts(params, None, None, f"the model has {graph.subgraphs} subgraphs (control flow)")
    why = _why(unshaped, uncounted)
    return GraphCounts(params, None, None, why) if why else GraphCounts(params, macs, activations)


def _tflite_macs(op: TfliteOp) -> int | None:
    """Multiply-accumulates of one TFLite op, or None when a shape it needs is dynamic."""
    data_at, weight_at = (2, 1) if op.name == "TRANSPOSE_CONV" else (0, 1)
    if len(op.inputs) <= max(data_at, weight_at) or not op.outputs:
        return None
    data, weight, out = op.inputs[data_at], op.inputs[weight_at], op.outputs[0]
    if data is None or weight is None or any(t.dynamic or not t.shape for t in (data, weight, out)):
        return None
    if op.name == "CONV_2D":  # weight (C_out, kh, kw, C_in / groups)
        return math.prod(out.shape) * math.prod(weight.shape[1:])
    if op.name == "DEPTHWISE_CONV_2D":  # weight (1, kh, kw, C_out)
        return math.prod(out.shape) * weight.shape[1] * weight.shape[2]
    if op.name == "TRANSPOSE_CONV":  # weight (C_out, kh, kw, C_in)
        return math.prod(data.shape) * math.prod(weight.shape[:3])
    if op.name == "FULLY_CONNECTED":  # weight (N, K)
        return math.prod(out.shape) * weight.shape[-1]
    k = data.shape[-2] if op.adj_x and len(data.shape) > 1 else data.shape[-1]  # BATCH_MATMUL
    return math.prod(out.shape) * k
