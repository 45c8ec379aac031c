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
        """A cell from a ``run.json`` plan or a worker request: checked field by field, since the
        file may have been edited; a bad field is a ``ValueError`` naming it."""
        if not isinstance(data, dict):
            raise ValueError(f"a cell is a JSON object, got {type(data).__name__}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown cell fields {sorted(unknown)}")
        missing = {"model", "backend"} - set(data)
        if missing:
            raise ValueError(f"cell fields {sorted(missing)} are missing")
        cell = cls(**data)
        choices = {"backend": BACKENDS, "device": DEVICES, "precision": PRECISIONS}
        for name, valid in choices.items():
            if not isinstance(getattr(cell, name), str) or getattr(cell, name) not in valid:
                raise ValueError(f"cell {name} {getattr(cell, name)!r} is not one of {', '.join(valid)}")
        if not isinstance(cell.model, str) or not cell.model:
            raise ValueError(f"cell model {cell.model!r} is not a name")
        if type(cell.threads) is not int or cell.threads < 1:
            raise ValueError(f"cell threads {cell.threads!r} is not an integer >= 1")
        options = cell.options
        if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
            raise ValueError(f"cell options {options!r} are not an object")
        return cell
