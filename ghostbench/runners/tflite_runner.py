"""The LiteRT (TensorFlow Lite) interpreter with XNNPACK and an explicit thread count.

``ai-edge-litert`` is preferred; ``tflite-runtime`` (the package many Raspberry Pi setups have) is
the fallback, and the row names which one ran, since the two differ by up to 2x on the same file.
The input is set once in ``prepare``; one inference is ``perf_counter_ns`` around ``invoke()``.
"""

from __future__ import annotations

import importlib
import importlib.util
from time import perf_counter_ns
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ghostbench.core.errors import GhostbenchError, MissingDependencyError
from ghostbench.core.inputs import artifact_input
from ghostbench.core.versions import package_version
from ghostbench.runners.base import RunnerBase, option_bool, require_artifact

if TYPE_CHECKING:
    from ghostbench.core.artifact import Artifact
    from ghostbench.core.cell import Cell

# runtime name -> (module with Interpreter, pip distribution), in order of preference
INTERPRETERS: dict[str, tuple[str, str]] = {
    "ai-edge-litert": ("ai_edge_litert.interpreter", "ai-edge-litert"),
    "tflite-runtime": ("tflite_runtime.interpreter", "tflite-runtime"),
}


def _installed(runtime: str) -> bool:
    return importlib.util.find_spec(INTERPRETERS[runtime][0].partition(".")[0]) is not None


def choose_runtime(cell: Cell) -> str:
    """The interpreter package named by the ``runtime`` option, else the first one installed."""
    wanted = cell.options.get("runtime")
    if wanted is not None:
        if wanted not in INTERPRETERS:
            raise GhostbenchError(f"unknown TFLite runtime {wanted!r}; valid: {', '.join(INTERPRETERS)}")
        if not _installed(wanted):
            raise GhostbenchError(f"{wanted} is not installed: pip install {INTERPRETERS[wanted][1]}")
        return wanted
    for runtime in INTERPRETERS:
        if _installed(runtime):
            return runtime
    raise MissingDependencyError("ai-edge-litert", "tflite", "the tflite backend")


def input_meta(detail: dict) -> dict:
    """What the interpreter says about its input, in the exporters' ``meta`` keys; an artifact's
    own meta takes precedence, so this matters for files exported elsewhere (``--artifact``)."""
    shape = [int(d) for d in detail["shape"]]
    channels_last = len(shape) == 4 and shape[-1] in (1, 3) and shape[1] not in (1, 3)
    meta: dict = {
        "input_shape": shape,
        "input_layout": "nhwc" if channels_last else "nchw",
        "input_dtype": np.dtype(detail["dtype"]).name,
    }
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if scale:
        meta["input_quant"] = {"scale": float(scale), "zero_point": int(zero_point)}
    return meta


class TfliteRunner(RunnerBase):
    PRELOAD: ClassVar = (INTERPRETERS["ai-edge-litert"][0],)
    OPTIONS: ClassVar = {
        "xnnpack": "true (default) / false: apply the default XNNPACK delegate",
        "runtime": f"interpreter package: {', '.join(INTERPRETERS)} (default: the first installed)",
    }
    PRECISIONS: ClassVar = ("fp32", "fp16", "int8", "int8_dynamic")

    def __init__(self) -> None:
        self._runtime = ""

    @classmethod
    def check(cls, cell: Cell) -> None:
        super().check(cell)
        choose_runtime(cell)
        option_bool(cell, "xnnpack", True)

    @property
    def runtime(self) -> str:
        return self._runtime

    def version(self) -> str:
        return package_version(INTERPRETERS[self._runtime][1])

    def load(self, cell: Cell, artifact: Artifact | None) -> None:
        path = require_artifact(cell, artifact, "tflite")
        self._runtime = choose_runtime(cell)
        module = importlib.import_module(INTERPRETERS[self._runtime][0])
        resolver = module.OpResolverType.AUTO
        if not option_bool(cell, "xnnpack", True):
            resolver = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            interpreter = module.Interpreter(
                model_path=str(path), num_threads=cell.threads, experimental_op_resolver_type=resolver
            )
            _fit_input(interpreter, artifact.meta)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise GhostbenchError(f"{self._runtime} cannot load {path}: {exc}") from exc
        if len(interpreter.get_input_details()) != 1:
            raise GhostbenchError(f"{path} has several inputs; ghostbench times 1-input models")
        self._cell = cell
        self._meta = artifact.meta
        self._interpreter = interpreter

    def prepare(self, seed: int) -> None:
        meta = {**input_meta(self._interpreter.get_input_details()[0]), **self._meta}
        self.set_input(artifact_input(meta, seed))

    def set_input(self, x: np.ndarray) -> None:
        """Set ``x`` (NCHW float32, like the example input) as the input, converted to the model's
        layout and dtype: accuracy evaluation scores real images through the timed interpreter."""
        from ghostbench.core.inputs import to_runtime_input

        detail = self._interpreter.get_input_details()[0]
        meta = {**input_meta(detail), **self._meta}
        feed = to_runtime_input(x, meta)
        if tuple(feed.shape) != tuple(detail["shape"]) or feed.dtype != detail["dtype"]:
            raise GhostbenchError(
                f"input {feed.dtype}{list(feed.shape)} does not fit the model's "
                f"{detail['dtype'].__name__}{list(detail['shape'])}: "
                "check the artifact's input_layout and input_dtype"
            )
        self._interpreter.set_tensor(detail["index"], feed)
        self._feed = feed

    def run_once(self) -> int:
        start = perf_counter_ns()
        self._interpreter.invoke()
        return perf_counter_ns() - start

    def output(self) -> np.ndarray:
        """The first output of the last inference (for correctness checks, never timed)."""
        return self._interpreter.get_tensor(self._interpreter.get_output_details()[0]["index"])


def _fit_input(interpreter, meta: dict) -> None:
    """Resize a variable-size input to the shape the artifact is timed at, as benchmark_model's
    ``--input_layer_shape`` does; a fixed-size input is left as the graph declares it."""
    details = interpreter.get_input_details()
    wanted = meta.get("input_shape")
    if len(details) != 1 or not wanted:
        return
    signature = details[0].get("shape_signature", details[0]["shape"])
    if any(int(d) < 0 for d in signature) and list(details[0]["shape"]) != list(wanted):
        interpreter.resize_tensor_input(details[0]["index"], list(wanted), strict=True)
