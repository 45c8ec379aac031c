"""A Cell is one thing to measure: (model, backend, device, precision, threads) plus options.

It is the unit the planner emits, the worker measures, the store keys rows by and ``compare``
matches on. Options live in the cell (not in environment variables) so a row says how it was made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Backend names a cell may carry; each maps to a runner class in ghostbench.runners.
BACKENDS: tuple[str, ...] = (
    "null",
    "torch",
    "torch_compile",
    "torch_cudagraph",
    "onnxruntime",
    "tflite",
    "tensorrt",
)
# Devices a worker on this machine runs (``ghostbench run --device``, the cpu and gpu profiles).
LOCAL_DEVICES: tuple[str, ...] = ("cpu", "cuda")
# Devices whose windows run on another machine: a board over SSH, a phone over adb.
REMOTE_DEVICES: tuple[str, ...] = ("pi", "android")
DEVICES: tuple[str, ...] = LOCAL_DEVICES + REMOTE_DEVICES
# What a remote device can time: a board's worker bundle has no torch; a phone runs benchmark_model.
REMOTE_BACKENDS: dict[str, tuple[str, ...]] = {
    "pi": ("tflite", "onnxruntime", "null"),
    "android": ("tflite",),
}
# The exported format a backend times; backends not listed build the model from the registry.
ARTIFACT_FORMATS: dict[str, str] = {"onnxruntime": "onnx", "tflite": "tflite", "tensorrt": "tensorrt"}
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8", "int8_dynamic")


@dataclass(frozen=True)
class Cell:
    model: str
    backend: str
    device: str = "cpu"
    precision: str = "fp32"
    threads: int = 1
    options: dict = field(default_factory=dict, hash=False)

    @property
    def key(self) -> str:
        """Stable identity used to match rows across runs (options that change the graph included)."""
        extra = "".join(f",{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.model}/{self.backend}/{self.device}/{self.precision}/t{self.threads}{extra}"

    def to_dict(self) -> dict:
        """The fields, as ``run.json``'s plan and a worker request record them (``from_dict`` reads it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Cell:
        return cls(**data)
