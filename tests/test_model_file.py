"""A user's model file (``models/model_file.py``): each way a file can be wrong is one error naming
it, and the input and precision are read from small ONNX graphs built here node by node, from
TFLite flatbuffers written here with LiteRT's schema, and (slow) from ghostbench's own exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs onnx (pip install 'ghostbench[onnx]')")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from ghostbench.core.cell import PRECISIONS  # noqa: E402
from ghostbench.core.errors import GhostbenchError  # noqa: E402
from ghostbench.models import model_file  # noqa: E402
from ghostbench.models.model_file import counts, describe  # noqa: E402


def _conv(x: str = "x", y: str = "y", dtype: type = np.float32) -> tuple[onnx.NodeProto, list]:
    """A 3 -> 4 channel 3x3 conv with bias, 'same' padding."""
    inits = [
        numpy_helper.from_array(np.ones(s, dtype=dtype), n) for n, s in (("w", (4, 3, 3, 3)), ("b", (4,)))
    ]
    return helper.make_node("Conv", [x, "w", "b"], [y], pads=[1, 1, 1, 1]), inits


def _save(path: Path, nodes: list, inits: list, inputs: list, elem: int = TensorProto.FLOAT) -> Path:
    values = [helper.make_tensor_value_info(name, elem, shape) for name, shape in inputs]
    out = helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)
    graph = helper.make_graph(nodes, "g", values, [out], initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _fp32(path: Path, shape: list | None = None) -> Path:
    node, inits = _conv()
    return _save(path, [node], inits, [("x", shape or ["N", 3, 8, 8])])


def test_a_float_onnx_graph_is_described_at_batch_1(tmp_path: Path) -> None:
    described = describe(_fp32(tmp_path / "net.onnx"))
    assert described.path == (tmp_path / "net.onnx").resolve() and described.format == "onnx"
    assert (described.input_name, described.input_shape, described.input_layout) == (
        "x",
        (1, 3, 8, 8),
        "nchw",
    )
    assert (described.input_dtype, described.input_quant, described.precision) == ("float32", None, "fp32")
    assert described.image_size == 8 and len(described.sha256) == 64
    assert described.meta() == {
        "input_name": "x",
        "input_shape": [1, 3, 8, 8],
        "input_layout": "nchw",
        "input_dtype": "float32",
        "source": "file",
    }
    assert counts(described).macs == 4 * 8 * 8 * 27


def test_float16_weights_are_fp16(tmp_path: Path) -> None:
    node, inits = _conv(dtype=np.float16)
    path = _save(tmp_path / "half.onnx", [node], inits, [("x", [1, 3, 8, 8])], TensorProto.FLOAT16)
    described = describe(path)
    assert (described.precision, described.input_dtype) == ("fp16", "float16")


def test_a_qlinear_conv_graph_is_int8_and_its_input_quantization_is_read(tmp_path: Path) -> None:
    scalars = {"xs": (0.5, np.float32), "xz": (3, np.uint8), "ws": (0.25, np.float32), "wz": (0, np.int8)}
    scalars |= {"ys": (1.0, np.float32), "yz": (0, np.uint8)}
    inits = [numpy_helper.from_array(np.array(v, dtype=t), n) for n, (v, t) in scalars.items()]
    inits.append(numpy_helper.from_array(np.ones((4, 3, 3, 3), dtype=np.int8), "w"))
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"])
    path = _save(tmp_path / "q.onnx", [node], inits, [("x", [1, 3, 8, 8])], TensorProto.UINT8)
    described = describe(path)
    assert (described.precision, described.input_dtype) == ("int8", "uint8")
    assert described.input_quant == {"scale": 0.5, "zero_point": 3}
    assert described.meta()["input_quant"] == {"scale": 0.5, "zero_point": 3}
    graph = counts(described)
    assert (graph.params, graph.macs, graph.activations) == (108, 4 * 6 * 6 * 27, 4 * 6 * 6)


def test_a_dynamic_quantize_graph_is_int8_dynamic(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
        helper.make_node("ConvInteger", ["xq", "w", "xz"], ["y"]),
    ]
    inits = [numpy_helper.from_array(np.ones((4, 3, 3, 3), dtype=np.uint8), "w")]
    assert (
        describe(_save(tmp_path / "d.onnx", nodes, inits, [("x", [1, 3, 8, 8])])).precision == "int8_dynamic"
    )


def test_a_channels_last_onnx_graph_is_nhwc(tmp_path: Path) -> None:
    node, inits = _conv("t")
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]), node]
    described = describe(_save(tmp_path / "nhwc.onnx", nodes, inits, [("x", [1, 8, 8, 3])]))
    assert (described.input_shape, described.input_layout, described.image_size) == ((1, 8, 8, 3), "nhwc", 8)


def test_a_variable_image_size_takes_the_input_size(tmp_path: Path) -> None:
    path = _fp32(tmp_path / "var.onnx", ["N", 3, "H", "W"])
    with pytest.raises(GhostbenchError, match=r"var\.onnx takes a variable image size; pass --input-size"):
        describe(path)
    described = describe(path, input_size=16)
    assert (described.input_shape, described.image_size) == ((1, 3, 16, 16), 16)
    assert counts(described).macs == 4 * 16 * 16 * 27  # counted at the size it is timed at


def test_an_input_size_the_graph_does_not_take_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GhostbenchError, match=r"takes 8x8 images; --input-size 16 does not fit"):
        describe(_fp32(tmp_path / "fixed.onnx", [1, 3, 8, 8]), input_size=16)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ([1, 3, 8, 6], "takes 8x6 images; ghostbench times square images"),
        ([1, 5, 8, 8], "no 1- or 3-channel axis"),
        ([4, 3, 8, 8], "takes batches of 4; ghostbench times batch 1"),
        ([1, 3, 8], "takes a 3-D input"),
    ],
)
def test_an_input_that_is_not_one_square_image_is_an_error(tmp_path: Path, shape: list, message: str) -> None:
    path = _save(tmp_path / "odd.onnx", [helper.make_node("Relu", ["x"], ["y"])], [], [("x", shape)])
    with pytest.raises(GhostbenchError, match=message):
        describe(path)


def test_two_inputs_are_an_error(tmp_path: Path) -> None:
    inputs = [("x", [1, 3, 8, 8]), ("z", [1, 3, 8, 8])]
    path = _save(tmp_path / "two.onnx", [helper.make_node("Add", ["x", "z"], ["y"])], [], inputs)
    with pytest.raises(GhostbenchError, match=r"two\.onnx has 2 inputs; ghostbench times 1-input models"):
        describe(path)


def test_a_missing_file_and_another_suffix_are_errors(tmp_path: Path) -> None:
    with pytest.raises(GhostbenchError, match=r"model file not found: .*nothing\.onnx"):
        describe(tmp_path / "nothing.onnx")
    (tmp_path / "net.pt").write_bytes(b"\0" * 16)
    with pytest.raises(
        GhostbenchError, match=r"net\.pt is not a model file: ghostbench reads \.onnx and \.tflite"
    ):
        describe(tmp_path / "net.pt")
    assert set(model_file.FORMATS.values()) == {"onnx", "tflite"}


def test_garbage_and_truncated_onnx_files_are_errors(tmp_path: Path) -> None:
    (tmp_path / "junk.onnx").write_bytes(b"this is not a protobuf \xff\xfe" * 8)
    with pytest.raises(GhostbenchError, match=r"junk\.onnx is not a readable ONNX model \(truncated\?\): "):
        describe(tmp_path / "junk.onnx")
    whole = _fp32(tmp_path / "whole.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(GhostbenchError, match=r"cut\.onnx is not a readable ONNX model \(truncated\?\): \S"):
        describe(tmp_path / "cut.onnx")


# TFLite files written with LiteRT's own flatbuffer schema: conv 3 -> 4 (3x3) then depthwise 3x3.


def _tflite_model(*, fp16: bool = False, dynamic: bool = False) -> bytes:
    flatbuffers = pytest.importorskip("flatbuffers", reason="needs flatbuffers (with ai-edge-litert)")
    schema = pytest.importorskip(
        "ai_edge_litert.schema_py_generated", reason="needs ai-edge-litert (pip install 'ghostbench[tflite]')"
    )
    ops = schema.BuiltinOperator
    codes = []
    for code in (ops.CONV_2D, ops.DEPTHWISE_CONV_2D, ops.DEQUANTIZE):
        opcode = schema.OperatorCodeT()
        opcode.builtinCode, opcode.deprecatedBuiltinCode, opcode.version = code, code, 1
        codes.append(opcode)
    buffers, tensors, operators = [schema.BufferT()], [], []

    def tensor(name: str, shape: list, data: np.ndarray | None = None, dynamic_hw: bool = False) -> int:
        t = schema.TensorT()
        t.name, t.shape = name, shape
        t.type = schema.TensorType.FLOAT16 if data is not None and data.dtype == np.float16 else 0
        if dynamic_hw:
            t.shapeSignature = [shape[0], -1, -1, shape[3]]
        if data is not None:
            buffer = schema.BufferT()
            buffer.data = list(data.tobytes())
            buffers.append(buffer)
            t.buffer = len(buffers) - 1
        tensors.append(t)
        return len(tensors) - 1

    def op(code: int, ins: list, outs: list, kind: int = 0, options: object = None) -> None:
        o = schema.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs, o.builtinOptionsType, o.builtinOptions = (
            code,
            ins,
            outs,
            kind,
            options,
        )
        operators.append(o)

    x = tensor("x", [1, 8, 8, 3], dynamic_hw=dynamic)
    w1 = tensor("w1", [4, 3, 3, 3], np.ones((4, 3, 3, 3), np.float16 if fp16 else np.float32))
    if fp16:
        stored, w1 = w1, tensor("w1_float", [4, 3, 3, 3])
        op(2, [stored], [w1])
    h = tensor("h", [1, 8, 8, 4], dynamic_hw=dynamic)
    y = tensor("y", [1, 8, 8, 4], dynamic_hw=dynamic)
    conv = schema.Conv2DOptionsT()
    conv.padding, conv.strideH, conv.strideW = schema.Padding.SAME, 1, 1
    op(0, [x, w1, tensor("b1", [4], np.ones(4, np.float32))], [h], schema.BuiltinOptions.Conv2DOptions, conv)
    depthwise = schema.DepthwiseConv2DOptionsT()
    depthwise.padding, depthwise.strideH, depthwise.strideW, depthwise.depthMultiplier = (
        schema.Padding.SAME,
        1,
        1,
        1,
    )
    weights = [
        tensor("w2", [1, 3, 3, 4], np.ones((1, 3, 3, 4), np.float32)),
        tensor("b2", [4], np.ones(4, np.float32)),
    ]
    op(1, [h, *weights], [y], schema.BuiltinOptions.DepthwiseConv2DOptions, depthwise)
    graph = schema.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs, graph.operators = tensors, [x], [y], operators
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, codes, [graph], buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


TFLITE_COUNTS = (108 + 4 + 36 + 4, 8 * 8 * 4 * 27 + 8 * 8 * 4 * 9, 2 * 8 * 8 * 4)  # params, MACs, activations


@pytest.mark.parametrize(("fp16", "precision"), [(False, "fp32"), (True, "fp16")])
def test_a_tflite_file_is_described_and_counted(tmp_path: Path, fp16: bool, precision: str) -> None:
    path = tmp_path / "net.tflite"
    path.write_bytes(_tflite_model(fp16=fp16))
    described = describe(path)
    assert (described.format, described.precision, described.input_name) == ("tflite", precision, "x")
    assert (described.input_shape, described.input_layout, described.input_dtype) == (
        (1, 8, 8, 3),
        "nhwc",
        "float32",
    )
    assert described.input_quant is None and described.image_size == 8
    graph = counts(described)  # a float16 weight behind its DEQUANTIZE counts once
    assert (graph.params, graph.macs, graph.activations) == TFLITE_COUNTS


def test_a_dynamic_tflite_input_needs_the_input_size_and_is_not_counted(tmp_path: Path) -> None:
    path = tmp_path / "dynamic.tflite"
    path.write_bytes(_tflite_model(dynamic=True))
    with pytest.raises(GhostbenchError, match="takes a variable image size; pass --input-size"):
        describe(path)
    graph = counts(describe(path, input_size=8))
    assert graph.params == TFLITE_COUNTS[0] and graph.macs is None and graph.activations is None
    assert graph.why.startswith("shapes not static for 2 op(s)")


def test_a_dynamic_tflite_file_is_timed_at_the_input_size(tmp_path: Path) -> None:
    from ghostbench.core.cell import Cell
    from ghostbench.exporters import file_artifact
    from ghostbench.runners import create

    path = tmp_path / "dynamic.tflite"
    path.write_bytes(_tflite_model(dynamic=True))
    described = describe(path, input_size=12)
    facts = {"path": str(path), "sha256": described.sha256, "format": "tflite", "precision": "fp32"}
    artifact = file_artifact("dynamic", {**facts, "meta": described.meta()})
    runner, cell = create("tflite"), Cell("dynamic", "tflite", threads=1)
    runner.load(cell, artifact)
    runner.prepare(0)
    runner.set_input(np.zeros((1, 3, 12, 12), np.float32))  # raises unless resized to 12x12
    assert runner.run_once() > 0


def test_garbage_and_truncated_tflite_files_are_errors(tmp_path: Path) -> None:
    (tmp_path / "junk.tflite").write_bytes(b"\0" * 64)
    with pytest.raises(GhostbenchError, match=r"junk\.tflite is not a TFLite file"):
        describe(tmp_path / "junk.tflite")
    whole = _tflite_model()
    (tmp_path / "cut.tflite").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(
        GhostbenchError, match=r"cut\.tflite is not a readable TFLite model \(truncated\?\): \S"
    ):
        describe(tmp_path / "cut.tflite")


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_ghostbench_tflite_exports_are_described_at_their_precision(
    artifact_cache: Path, precision: str
) -> None:
    pytest.importorskip("litert_torch", reason="needs litert-torch (pip install 'ghostbench[tflite]')")
    from ghostbench.exporters import export

    artifact = export("ghostnet_050", "tflite", precision, cache_dir=artifact_cache)
    described = describe(artifact.path)
    assert described.precision == precision in PRECISIONS
    for key in ("input_shape", "input_layout", "input_dtype", "input_name"):
        assert described.meta()[key] == artifact.meta[key]
    assert described.input_quant == artifact.meta["input_quant"]
    assert described.sha256 == artifact.sha256 and described.image_size == 224


@pytest.mark.parametrize(
    ("file_format", "fmt", "precision", "why"),
    [
        ("onnx", "onnx", "fp32", None),
        ("onnx", "tensorrt", "fp32", None),
        ("tflite", "tflite", "fp32", None),
        ("onnx", "tflite", "fp32", "only onnx and tensorrt artifacts are timed from it"),
        ("tflite", None, "fp32", "only tflite artifacts are timed from it"),
        ("onnx", "onnx", "fp16", "it is timed as it is, at fp32, not fp16"),
    ],
)
def test_a_model_file_is_timed_only_as_itself(
    file_format: str, fmt: str | None, precision: str, why: str | None
) -> None:
    said = model_file.refusal(file_format, "fp32", "m", fmt, precision)
    assert said == why if why is None else said.endswith(why) and f"fp32 {file_format} file m" in said
