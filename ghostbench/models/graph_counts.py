"""Complexity counted from an ONNX graph, for a model that exists only as a file: the same three
definitions as ``models/complexity.py``, read from the graph instead of the modules.

- ``params``: elements of the float initializers that are learned weights: a Conv's, ConvTranspose's
  or Gemm's weight and bias, a MatMul's constant operand, a BatchNormalization's scale and bias
  (not its running mean and variance, which torch keeps as buffers), a PRelu's slope, and a
  constant operand of an Add or Mul that has more than one element (a bias or scale applied on
  its own). Shape constants (integer tensors) and scalars are not weights.
- ``macs``: multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul (what
  ``torch.utils.flop_counter`` counts, halved), from the shapes ONNX shape inference gives.
- ``activations``: elements of every Conv and ConvTranspose output (Radosavovic et al. 2020).

A figure that cannot be counted (a shape left symbolic, an op whose work is unknown here) is None
with the reason in ``why``: never a guess.

``params`` counts what the graph holds. ghostbench's own exports (``exporters/onnx.py``) fold
each BatchNorm into its conv (its scale and bias become the conv's weights and a bias of C
elements) and drop biases that are all zero, so their graph holds fewer weights than the torch
model has parameters; MACs and activations are the same (``benchmarks/graph_counts.py``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

WEIGHT_INPUTS: dict[str, tuple[int, ...]] = {
    "Conv": (1, 2),
    "ConvTranspose": (1, 2),
    "Gemm": (0, 1, 2),
    "MatMul": (0, 1),
    "BatchNormalization": (1, 2),
    "PRelu": (1,),
    "Add": (0, 1),
    "Mul": (0, 1),
}
# Ops that apply a learned tensor only when it is more than a scalar (a bias, a layer scale).
ELEMENTWISE = ("Add", "Mul")
MAC_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


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


def count_onnx(path: str | os.PathLike) -> GraphCounts:
    """Params, MACs and activations of the ONNX model at ``path`` (batch and input as stored)."""
    import onnx
    from onnx import TensorProto

    model = onnx.shape_inference.infer_shapes(onnx.load(os.fspath(path)), data_prop=True)
    graph = model.graph
    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
    init = {i.name: i for i in graph.initializer}
    shapes: dict[str, tuple[int, ...] | None] = {
        v.name: _dims(v) for v in (*graph.input, *graph.value_info, *graph.output)
    }
    shapes.update({name: tuple(int(d) for d in t.dims) for name, t in init.items()})
    weights: set[str] = set()
    macs, activations, unknown = 0, 0, []
    for node in graph.node:
        for i in WEIGHT_INPUTS.get(node.op_type, ()):
            name = node.input[i] if i < len(node.input) else ""
            tensor = init.get(name)
            if tensor is None or tensor.data_type not in floats:
                continue
            if node.op_type in ELEMENTWISE and math.prod(tensor.dims) <= 1:
                continue
            weights.add(name)
        if node.op_type not in MAC_OPS:
            continue
        work = _macs(node, shapes)
        if work is None:
            unknown.append(f"{node.op_type} {node.name or node.output[0]}")
            continue
        macs += work
        if node.op_type in ("Conv", "ConvTranspose"):
            activations += math.prod(shapes[node.output[0]])
    params = sum(math.prod(init[name].dims) for name in weights)
    if unknown:
        why = f"shapes not static for {len(unknown)} op(s), e.g. {unknown[0]}"
        return GraphCounts(params, None, None, why)
    return GraphCounts(params, macs, activations)


def _attr(node: object, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(a.i)
    return default


def _macs(node: object, shapes: dict[str, tuple[int, ...] | None]) -> int | None:
    """Multiply-accumulates of one node, or None when a shape it needs is not static."""
    ins = [shapes.get(n) for n in node.input]
    out = shapes.get(node.output[0])
    if out is None or any(s is None for s in ins[:2]):
        return None
    if node.op_type == "Conv":
        weight = ins[1]  # (C_out, C_in / group, k...)
        return math.prod(out) * math.prod(weight[1:])
    if node.op_type == "ConvTranspose":
        weight = ins[1]  # (C_in, C_out / group, k...)
        return math.prod(ins[0]) * math.prod(weight[1:])
    if node.op_type == "Gemm":
        a = ins[0]
        k = a[0] if _attr(node, "transA", 0) else a[1]
        return math.prod(out) * k
    a = ins[0]  # MatMul: (..., M, K) x (..., K, N)
    return math.prod(out) * (a[-1] if len(a) > 1 else a[0])
