"""Backends by name. Each name maps to a ``"module:Class"`` string imported on first use, so asking
for one backend never imports another backend's library (tensorrt, onnxruntime-gpu, LiteRT).

Runner modules import their library only inside methods, which keeps ``runner_class`` cheap enough
for the parent process to validate cells (options, availability) before any worker starts.
"""

from __future__ import annotations

import importlib

from ghostbench.core.errors import GhostbenchError
from ghostbench.runners.base import Runner

RUNNERS: dict[str, str] = {
    "null": "ghostbench.runners.null_runner:NullRunner",
    "torch": "ghostbench.runners.torch_runner:TorchRunner",
    "torch_compile": "ghostbench.runners.torch_runner:TorchCompileRunner",
    "torch_cudagraph": "ghostbench.runners.torch_runner:TorchCudaGraphRunner",
    "onnxruntime": "ghostbench.runners.onnxruntime_runner:OnnxRuntimeRunner",
    "tflite": "ghostbench.runners.tflite_runner:TfliteRunner",
    "tensorrt": "ghostbench.runners.tensorrt_runner:TensorRTRunner",
}


def runner_class(backend: str) -> type[Runner]:
    """The runner class of ``backend``; an unknown name raises with the valid ones."""
    try:
        target = RUNNERS[backend]
    except KeyError:
        raise GhostbenchError(f"unknown backend {backend!r}; valid backends: {', '.join(RUNNERS)}") from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def create(backend: str) -> Runner:
    """A fresh, unloaded runner for ``backend``."""
    return runner_class(backend)()
