"""PyTorch backends: eager, ``torch.compile`` (inductor) and, on CUDA, CUDA graphs.

The model is built from the registry with a fixed weight seed (no artifact). On CPU one inference
is timed with ``perf_counter_ns`` around the synchronous call; on CUDA with a pair of CUDA events
on the current stream, waited on before returning.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from time import perf_counter_ns
from typing import TYPE_CHECKING, ClassVar

from ghostbench.core.errors import GhostbenchError
from ghostbench.runners.base import CudaEvents, RunnerBase, example_input, option_bool

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from ghostbench.core.artifact import Artifact
    from ghostbench.core.cell import Cell

# Weights are drawn from this seed, as the exporters do, so every backend times the same network.
WEIGHTS_SEED = 0
COMPILE_MODES: tuple[str, ...] = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def registry_model(cell: Cell) -> nn.Module:
    """The registered network of ``cell.model`` in eval mode, weights from :data:`WEIGHTS_SEED`."""
    from ghostbench.models import registry

    return registry.get(cell.model).build(seed=WEIGHTS_SEED)


class TorchRunner(RunnerBase):
    """Eager PyTorch."""

    OPTIONS: ClassVar = {"channels_last": "true/false (default false): channels-last memory format"}
    DEVICES: ClassVar = ("cpu", "cuda")
    PRECISIONS: ClassVar = ("fp32", "fp16")
    # torch, and every model definition (``registry.names()`` imports the model modules)
    PRELOAD: ClassVar = ("torch", "ghostbench.models.registry:names")
    runtime = "torch"

    def __init__(self, build: Callable[[Cell], nn.Module] = registry_model) -> None:
        self._build = build

    @classmethod
    def check(cls, cell: Cell) -> None:
        super().check(cell)
        if cell.precision == "fp16" and cell.device != "cuda":
            raise GhostbenchError(f"backend {cell.backend!r} runs fp16 only on --device cuda")
        option_bool(cell, "channels_last", False)

    def version(self) -> str:
        import torch

        return torch.__version__

    def load(self, cell: Cell, artifact: Artifact | None) -> None:
        import torch

        torch.set_num_threads(cell.threads)
        self._inference_mode = torch.inference_mode
        self._cell = cell
        self._device = torch.device(cell.device)
        self._dtype = torch.float16 if cell.precision == "fp16" else torch.float32
        self._channels_last = option_bool(cell, "channels_last", False)
        model = self._build(cell).eval().to(self._device, self._dtype)
        if self._channels_last:
            model = model.to(memory_format=torch.channels_last)
        self._model = self._wrap(model)

    def _wrap(self, model: nn.Module) -> Callable[[torch.Tensor], object]:
        return model

    def prepare(self, seed: int) -> None:
        import torch

        x = example_input(self._cell.model, seed).to(self._device, self._dtype)
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        self._x = x
        self._events = CudaEvents() if self._device.type == "cuda" else None
        if self._events is not None:
            torch.cuda.synchronize()

    def set_input(self, x: np.ndarray) -> None:
        """Copy ``x`` (NCHW float32, like the example input) into the prepared input, after
        ``prepare`` (a captured CUDA graph reads that buffer): accuracy evaluation on real images."""
        import torch

        self._x.copy_(torch.as_tensor(x))

    def run_once(self) -> int:
        with self._inference_mode():
            if self._events is not None:
                return self._events.time(self._forward)
            start = perf_counter_ns()
            self._y = self._model(self._x)
            return perf_counter_ns() - start

    def _forward(self) -> object:
        self._y = self._model(self._x)
        return self._y

    def output(self) -> np.ndarray:
        """The output of the last inference as float32 numpy (for correctness checks, never timed)."""
        return self._y.detach().float().cpu().numpy()


class TorchCompileRunner(TorchRunner):
    """``torch.compile`` with inductor. Compilation happens on the first call, so it shows in
    ``first_ms`` (the cold latency), not in ``load_ms``."""

    OPTIONS: ClassVar = {
        **TorchRunner.OPTIONS,
        "mode": f"torch.compile mode: {', '.join(COMPILE_MODES)} (default: default)",
    }
    PRELOAD: ClassVar = (*TorchRunner.PRELOAD, "torch._dynamo", "torch._inductor.compile_fx")

    @classmethod
    def check(cls, cell: Cell) -> None:
        super().check(cell)
        mode = cell.options.get("mode", "default")
        if mode not in COMPILE_MODES:
            raise GhostbenchError(f"unknown torch.compile mode {mode!r}; valid: {', '.join(COMPILE_MODES)}")
        if cell.device == "cpu" and not any(shutil.which(cxx) for cxx in ("g++", "c++", "clang++")):
            raise GhostbenchError("torch.compile on CPU needs a C++ compiler (g++ or clang++) on PATH")

    def load(self, cell: Cell, artifact: Artifact | None) -> None:
        self._mode = cell.options.get("mode", "default")
        super().load(cell, artifact)

    def _wrap(self, model: nn.Module) -> Callable[[torch.Tensor], object]:
        import torch

        return torch.compile(model, backend="inductor", mode=self._mode)

    def close(self) -> None:
        """Also forget dynamo's compiled frames: a worker that runs many windows (``worker.session``)
        would otherwise pile up guards on one ``forward`` per model class until dynamo's recompile
        limit (8) silently sends later windows to eager. Inductor's kernel caches (in memory and on
        disk) stay, so the next window's compile of the same graph is fast."""
        import torch._dynamo

        super().close()
        torch._dynamo.reset()


class TorchCudaGraphRunner(TorchRunner):
    """The eager model captured once into a CUDA graph; one inference is one ``replay()``.

    Capture follows the PyTorch CUDA-graphs recipe: warm up on a side stream (so lazy init and
    cuDNN autotuning happen outside the graph), then capture with a static input buffer.
    """

    DEVICES: ClassVar = ("cuda",)
    WARMUP_BEFORE_CAPTURE = 3

    def prepare(self, seed: int) -> None:
        import torch

        super().prepare(seed)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.no_grad():
            with torch.cuda.stream(side):
                for _ in range(self.WARMUP_BEFORE_CAPTURE):
                    self._model(self._x)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._y = self._model(self._x)
        torch.cuda.synchronize()
        self._graph = graph

    def run_once(self) -> int:
        return self._events.time(self._graph.replay)
