"""TFLite (LiteRT) artifacts: fp32 from litert-torch, fp16 and int8 from that flatbuffer with
ai-edge-quantizer (the quantizer litert-torch itself drives for its quantization recipes).

- fp32: ``litert_torch.convert``. With ``layout="nhwc"`` (default) the model is wrapped in
  ``litert_torch.to_channel_last_io`` so the graph takes NHWC input, what ARM runtimes expect, and
  the converter's layout pass leaves no TRANSPOSE in the graph; ``layout="nchw"`` keeps PyTorch's.
- fp16: weights stored as float16 (float casting, weight-only): the classic "float16 quantization".
- int8_dynamic: int8 per-channel weights, activations quantized on the fly (dynamic range).
- int8: full integer (int8 weights and activations, int8 input and output tensors), calibrated on a
  fixed-seed representative set; the input/output scale and zero point are in the metadata.

The metadata records input layout, shape, dtype and quantization, the count of TRANSPOSE ops, and
any graph rewrite made to keep the converted graph exact (see :func:`_exact_nearest`).
"""

from __future__ import annotations

import collections
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from ghostbench.exporters import parity

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ghostbench.core.artifact import Artifact
    from ghostbench.models.registry import ModelSpec

EXTENSION = ".tflite"
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8", "int8_dynamic")
EXTRA = "tflite"
LAYOUTS = ("nhwc", "nchw")
SIGNATURE = "serving_default"
# litert-torch lowers through XLA, whose CHECK failures abort the process: convert in a child.
ISOLATE = True


def defaults(precision: str) -> dict:
    options: dict = {"layout": "nhwc"}
    if precision == "int8":
        options |= {"calibration_samples": 16, "calibration_seed": 0}
    return options


def validate(options: dict) -> str | None:
    """A reason the options are invalid, or None."""
    if options["layout"] not in LAYOUTS:
        return f"tflite layout must be one of {', '.join(LAYOUTS)}, not {options['layout']!r}"
    if options.get("calibration_samples", 1) < 1:
        return "calibration_samples must be at least 1"
    return None


def requirements(precision: str) -> tuple[str, ...]:
    return (
        ("litert_torch", "ai_edge_litert") if precision == "fp32" else ("ai_edge_quantizer", "ai_edge_litert")
    )


def versions(precision: str) -> dict[str, str]:
    dists = ["torch", "litert-torch", "ai-edge-litert"] if precision == "fp32" else ["ai-edge-quantizer"]
    found = {}
    for dist in dists:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "absent"
    return found


def source(precision: str, options: dict) -> tuple[str, str, dict] | None:
    """Quantized variants are made from the fp32 flatbuffer of the same layout."""
    if precision == "fp32":
        return None
    return ("tflite", "fp32", {"layout": options["layout"]})


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
    if precision == "fp32":
        rewrites = _convert_fp32(spec, options, seed, out)
    else:
        assert source is not None
        out.write_bytes(_quantize(spec, precision, options, source))
        rewrites = source.meta.get("rewrites", [])
    return {**describe(out, options["layout"]), "rewrites": rewrites}


def _convert_fp32(spec: ModelSpec, options: dict, seed: int, out: Path) -> list[str]:
    import litert_torch

    module = spec.build(seed=seed)
    x = parity.example_input(spec, seed)
    if options["layout"] == "nhwc":
        module = litert_torch.to_channel_last_io(module, args=[0]).eval()
        x = x.permute(0, 2, 3, 1).contiguous()
    module, rewrites = _exact_nearest(module, x)
    litert_torch.convert(module, (x,)).export(str(out))
    return rewrites


def _exact_nearest(module: nn.Module, x: torch.Tensor) -> tuple[nn.Module, list[str]]:
    """Keep PyTorch's nearest-neighbour upsampling exact.

    litert-torch 0.10 lowers ``aten.upsample_nearest2d`` to RESIZE_NEAREST_NEIGHBOR with half-pixel
    centres, which picks other source pixels than PyTorch when the scale is not an integer
    (GhostNetV2's DFC gate upsamples 3 -> 7: cosine 0.994 against eager). A graph with such a
    resize gets PyTorch's own decomposition of the op (index gathers) instead; the rewrite is
    recorded in the artifact's metadata.
    """
    import torch
    from torch._decomp import get_decompositions

    ops = (torch.ops.aten.upsample_nearest2d.vec, torch.ops.aten.upsample_nearest2d.default)
    program = torch.export.export(module, (x,))

    def non_integer_scale(node) -> bool:
        src, dst = node.args[0].meta["val"].shape[-2:], node.meta["val"].shape[-2:]
        return any(int(o) % int(i) for i, o in zip(src, dst, strict=True))

    if not any(
        n.op == "call_function" and n.target in ops and non_integer_scale(n) for n in program.graph.nodes
    ):
        return module, []
    decomposed = program.run_decompositions(get_decompositions(list(ops))).module()
    return decomposed, ["aten.upsample_nearest2d -> index gathers (non-integer scale)"]


def _quantize(spec: ModelSpec, precision: str, options: dict, source: Artifact) -> bytes:
    from ai_edge_quantizer import qtyping, quantizer, recipe
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.recipe_manager import RecipeManager

    if precision == "fp16":
        manager = RecipeManager()
        manager.add_weight_only_config(
            regex=".*",
            operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
            num_bits=16,
            algorithm_key=AlgorithmName.FLOAT_CASTING,
        )
        chosen = manager.get_quantization_recipe()
    elif precision == "int8_dynamic":
        chosen = recipe.dynamic_wi8_afp32()
    else:
        chosen = recipe.static_wi8_ai8()
    q = quantizer.Quantizer(source.path.read_bytes(), chosen)
    calibration = None
    if q.need_calibration:
        samples = parity.calibration_inputs(spec, options["calibration_samples"], options["calibration_seed"])
        feeds = [{source.meta["input_name"]: parity.to_runtime_input(x, source.meta)} for x in samples]
        calibration = q.calibrate({SIGNATURE: feeds})
    return bytes(q.quantize(calibration, enable_progress_report=False).quantized_model)


def op_counts(path: Path) -> dict[str, int]:
    """Operators per builtin type, read from the flatbuffer itself (before any delegate fuses them)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    counts: collections.Counter[str] = collections.Counter()
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for i in range(graph.OperatorsLength()):
            opcode = model.OperatorCodes(graph.Operators(i).OpcodeIndex())
            code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
            counts[names.get(code, f"OP_{code}")] += 1
    return dict(sorted(counts.items()))


def _quant(detail: dict) -> dict | None:
    scale, zero_point = detail["quantization"]
    return {"scale": float(scale), "zero_point": int(zero_point)} if scale else None


def describe(path: Path, layout: str) -> dict:
    """Input/output facts a runner needs and the op census (``transpose_ops`` counted either way)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    inp = interpreter.get_input_details()[0]
    outp = interpreter.get_output_details()[0]
    ops = op_counts(path)
    signature = interpreter.get_signature_list().get(SIGNATURE, {})
    return {
        "input_layout": layout,
        "input_name": signature.get("inputs", [inp["name"]])[0],
        "input_tensor": inp["name"],
        "input_shape": [int(d) for d in inp["shape"]],
        "input_dtype": inp["dtype"].__name__,
        "input_quant": _quant(inp),
        "output_shape": [int(d) for d in outp["shape"]],
        "output_dtype": outp["dtype"].__name__,
        "output_quant": _quant(outp),
        "signature": SIGNATURE,
        "transpose_ops": ops.get("TRANSPOSE", 0),
        "ops": ops,
    }
