"""ONNX Runtime: the CPU EP, and the CUDA or TensorRT EP when onnxruntime-gpu is installed.

Threads and the graph optimization level are set explicitly (never ORT's defaults by accident).
Input and output buffers are bound once with IO binding, so a timed ``run_with_iobinding`` copies
and allocates nothing. ``Run`` returns after the EP's stream is synchronized (ORT's default), so
``perf_counter_ns`` around it is the latency on GPU EPs too.
"""

from __future__ import annotations

from time import perf_counter_ns
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ghostbench.core.errors import GhostbenchError
from ghostbench.core.inputs import artifact_input
from ghostbench.runners.base import RunnerBase, option_bool, require_artifact

if TYPE_CHECKING:
    from ghostbench.core.artifact import Artifact
    from ghostbench.core.cell import Cell

GRAPH_OPT_LEVELS: dict[str, str] = {
    "all": "ORT_ENABLE_ALL",
    "extended": "ORT_ENABLE_EXTENDED",
    "basic": "ORT_ENABLE_BASIC",
    "disable": "ORT_DISABLE_ALL",
}
# ONNX tensor types ghostbench binds (input feed dtype; outputs allocated once in ``prepare``).
TENSOR_TYPES: dict[str, type] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int64)": np.int64,
}
EXECUTION_PROVIDERS: dict[str, str] = {
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def _provider(cell: Cell) -> str:
    if cell.device == "cpu":
        return "CPUExecutionProvider"
    ep = cell.options.get("ep", "cuda")
    if ep not in EXECUTION_PROVIDERS:
        raise GhostbenchError(f"unknown ONNX Runtime ep {ep!r}; valid: {', '.join(EXECUTION_PROVIDERS)}")
    return EXECUTION_PROVIDERS[ep]


class OnnxRuntimeRunner(RunnerBase):
    OPTIONS: ClassVar = {
        "graph_opt": f"graph optimization level: {', '.join(GRAPH_OPT_LEVELS)} (default all)",
        "ep": f"execution provider on --device cuda: {', '.join(EXECUTION_PROVIDERS)} (default cuda)",
        "spinning": "true (ORT's default) / false: let idle intra-op threads spin (busy machines: false)",
    }
    DEVICES: ClassVar = ("cpu", "cuda")
    PRECISIONS: ClassVar = ("fp32", "fp16", "int8", "int8_dynamic")
    REQUIRES: ClassVar = (("onnxruntime", "onnx"),)
    PRELOAD: ClassVar = ("onnxruntime",)
    runtime = "onnxruntime"

    def __init__(self, profile_prefix: str | None = None) -> None:
        """``profile_prefix``: turn on ORT's profiler (per-run ``model_run`` events) for fidelity checks."""
        self._profile_prefix = profile_prefix

    @classmethod
    def check(cls, cell: Cell) -> None:
        super().check(cell)
        level = cell.options.get("graph_opt", "all")
        if level not in GRAPH_OPT_LEVELS:
            raise GhostbenchError(f"unknown graph_opt {level!r}; valid: {', '.join(GRAPH_OPT_LEVELS)}")
        option_bool(cell, "spinning", True)
        provider = _provider(cell)
        import onnxruntime as ort

        available = ort.get_available_providers()
        if provider not in available:
            raise GhostbenchError(
                f"this ONNX Runtime has no {provider} (it has: {', '.join(available)}); "
                "install onnxruntime-gpu in place of onnxruntime for --device cuda"
            )

    def version(self) -> str:
        import onnxruntime as ort

        return ort.__version__

    def load(self, cell: Cell, artifact: Artifact | None) -> None:
        import onnxruntime as ort

        path = require_artifact(cell, artifact, "onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = cell.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        level = GRAPH_OPT_LEVELS[cell.options.get("graph_opt", "all")]
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        options.log_severity_level = 3
        spinning = "1" if option_bool(cell, "spinning", True) else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        if self._profile_prefix is not None:
            options.enable_profiling = True
            options.profile_file_prefix = self._profile_prefix
        provider = _provider(cell)
        try:
            # ORT's TensorRT EP hands what TensorRT cannot take to the next provider: CUDA, not the CPU.
            chain = (
                [provider, "CUDAExecutionProvider"] if provider == "TensorrtExecutionProvider" else [provider]
            )
            session = ort.InferenceSession(str(path), options, providers=chain)
        except Exception as exc:  # ORT raises its own pybind types (InvalidProtobuf, Fail, ...)
            raise GhostbenchError(f"ONNX Runtime cannot load {path}: {exc}") from exc
        used = session.get_providers()[0]
        if used != provider:
            raise GhostbenchError(f"ONNX Runtime fell back to {used} instead of {provider}")
        inputs = len(session.get_inputs())
        if inputs != 1:
            raise GhostbenchError(f"{path} has {inputs} inputs; ghostbench times 1-input models")
        self._cell = cell
        self._meta = artifact.meta
        self._session = session

    def prepare(self, seed: int) -> None:
        import onnxruntime as ort

        model_input = self._session.get_inputs()[0]
        # The model's declared input (a symbolic dimension is batch 1), unless the artifact says
        # otherwise (--artifact files).
        self._input_meta = {
            "input_shape": [d if isinstance(d, int) else 1 for d in model_input.shape],
            "input_layout": "nchw",
            "input_dtype": np.dtype(TENSOR_TYPES.get(model_input.type, np.float32)).name,
            **self._meta,
        }
        self._binding = binding = self._session.io_binding()
        self.set_input(artifact_input(self._input_meta, seed))
        for output in self._session.get_outputs():
            dtype = TENSOR_TYPES.get(output.type)
            if dtype is not None and all(isinstance(dim, int) for dim in output.shape):
                value = ort.OrtValue.ortvalue_from_shape_and_type(output.shape, dtype, self._cell.device, 0)
                binding.bind_ortvalue_output(output.name, value)
            else:  # symbolic shape: ORT allocates the output on every run
                binding.bind_output(output.name, self._cell.device)

    def set_input(self, x: np.ndarray) -> None:
        """Bind ``x`` (NCHW float32, like the example input) for the next runs, after ``prepare``:
        accuracy evaluation scores real images through the session and binding that are timed."""
        import onnxruntime as ort

        from ghostbench.core.inputs import to_runtime_input

        feed = to_runtime_input(x, self._input_meta)
        name = self._session.get_inputs()[0].name
        if self._cell.device == "cpu":
            self._input = feed
            self._binding.bind_cpu_input(name, feed)
        else:
            self._input = ort.OrtValue.ortvalue_from_numpy(feed, "cuda", 0)
            self._binding.bind_ortvalue_input(name, self._input)

    def run_once(self) -> int:
        start = perf_counter_ns()
        self._session.run_with_iobinding(self._binding)
        return perf_counter_ns() - start

    def output(self) -> np.ndarray:
        """The first output of the last inference (for correctness checks, never timed)."""
        return self._binding.get_outputs()[0].numpy()

    def end_profiling(self) -> str:
        """Stop ORT's profiler and return its JSON trace file."""
        return self._session.end_profiling()
