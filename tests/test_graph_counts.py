"""Complexity counted from an ONNX or TFLite graph (``models/graph_counts.py``): MACs and
activations equal the torch counter's on ghostbench's own ONNX and TFLite exports, and the weight
rules hold on a graph built here node by node (learned tensors counted, BatchNorm statistics,
scalars and shape constants not, a symbolic shape leaves MACs empty with the reason, or is set
from the input shape given). ``tests/test_model_file.py`` counts small TFLite files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs onnx (pip install 'ghostbench[onnx]')")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from ghostbench.exporters import export  # noqa: E402
from ghostbench.models import complexity  # noqa: E402
from ghostbench.models.graph_counts import count_onnx, count_tflite  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ghostnet_050", "regnetx_002"])
def test_macs_and_activations_of_an_export_equal_the_torch_count(name: str, tmp_path: Path) -> None:
    artifact = export(name, "onnx", "fp32", cache_dir=tmp_path / "cache")
    graph, torch_count = count_onnx(artifact.path), complexity.count_model(name)
    assert (graph.macs, graph.activations) == (torch_count.macs, torch_count.activations)
    # The export folds each BatchNorm into its conv and drops zero-valued biases: fewer weights.
    assert 0 < graph.params < torch_count.params


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ghostnet_050", "regnetx_002"])
def test_macs_and_activations_of_a_tflite_export_equal_the_torch_count(name: str, tmp_path: Path) -> None:
    pytest.importorskip("litert_torch", reason="needs litert-torch (pip install 'ghostbench[tflite]')")
    artifact = export(name, "tflite", "fp32", cache_dir=tmp_path / "cache")
    graph, torch_count = count_tflite(artifact.path), complexity.count_model(name)
    assert (graph.macs, graph.activations) == (torch_count.macs, torch_count.activations)
    assert 0 < graph.params < torch_count.params  # BatchNorms folded into the convs


def _tensor(name: str, *shape: int, dtype: type = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ones(shape, dtype=dtype), name)


def _model(nodes: list, inits: list, batch: int | str = 1) -> onnx.ModelProto:
    image = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [image], [out], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _net(batch: int | str = 1) -> onnx.ModelProto:
    """conv(3->4, 3x3, bias) -> BN -> +scalar -> *channel scale -> flatten -> MatMul(256->10)."""
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["n"]),
        helper.make_node("Add", ["n", "three"], ["a"]),
        helper.make_node("Mul", ["a", "scale"], ["s"]),
        helper.make_node("Reshape", ["s", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "fc"], ["y"]),
    ]
    inits = [
        _tensor("w", 4, 3, 3, 3), _tensor("b", 4),
        _tensor("gamma", 4), _tensor("beta", 4), _tensor("mean", 4), _tensor("var", 4),
        _tensor("three"), _tensor("scale", 1, 4, 1, 1),
        numpy_helper.from_array(np.array([1, 256], dtype=np.int64), "shape"),
        _tensor("fc", 256, 10),
    ]  # fmt: skip
    return _model(nodes, inits, batch)


def test_learned_tensors_are_params_and_statistics_scalars_and_shapes_are_not(tmp_path: Path) -> None:
    path = tmp_path / "net.onnx"
    onnx.save(_net(), path)
    counts = count_onnx(path)
    assert counts.params == 4 * 27 + 4 + 4 + 4 + 4 + 256 * 10  # conv w, b; BN scale, bias; scale; fc
    assert counts.macs == 4 * 8 * 8 * 27 + 256 * 10
    assert counts.activations == 4 * 8 * 8 and counts.why == ""


def test_a_symbolic_shape_leaves_macs_empty_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "dynamic.onnx"
    onnx.save(_net(batch="N"), path)
    counts = count_onnx(path)
    assert counts.macs is None and counts.activations is None
    assert counts.why.startswith("shapes not static for") and counts.params is not None


def test_an_input_shape_given_fixes_the_symbolic_dims(tmp_path: Path) -> None:
    path = tmp_path / "dynamic.onnx"
    model = _net(batch="N")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "H", "W"
    onnx.save(model, path)
    assert count_onnx(path).macs is None
    counts = count_onnx(path, input_shape=(1, 3, 8, 8))
    assert (counts.macs, counts.activations, counts.why) == (4 * 8 * 8 * 27 + 256 * 10, 4 * 8 * 8, "")
