"""TensorRT: deserialize an engine, bind device buffers once, time ``execute_async_v3`` on a stream
with CUDA events (TensorRT 10 API: named I/O tensors, ``set_tensor_address``).

Buffers, the stream and the events come from PyTorch's CUDA runtime, which ghostbench already
depends on, so no second CUDA binding is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ghostbench.core.errors import GhostbenchError
from ghostbench.runners.base import CudaEvents, RunnerBase, example_input, require_artifact

if TYPE_CHECKING:
    from ghostbench.core.artifact import Artifact
    from ghostbench.core.cell import Cell


class TensorRTRunner(RunnerBase):
    DEVICES: ClassVar = ("cuda",)
    PRECISIONS: ClassVar = ("fp32", "fp16", "int8")
    REQUIRES: ClassVar = (("tensorrt", "tensorrt"),)
    runtime = "tensorrt"

    def version(self) -> str:
        import tensorrt as trt

        return trt.__version__

    def load(self, cell: Cell, artifact: Artifact | None) -> None:
        import tensorrt as trt
        import torch

        path = require_artifact(cell, artifact, "tensorrt")
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._trt_runtime = trt.Runtime(self._logger)
        engine = self._trt_runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise GhostbenchError(
                f"TensorRT cannot deserialize {path}: corrupt, or built by another TensorRT version or GPU"
            )
        context = engine.create_execution_context()
        self._inputs: list[str] = []
        self._outputs: list[str] = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self._inputs if is_input else self._outputs).append(name)
        if len(self._inputs) != 1:
            raise GhostbenchError(f"{path} has {len(self._inputs)} inputs; ghostbench times 1-input engines")
        self._trt = trt
        self._cell = cell
        self._meta = artifact.meta
        self._engine = engine
        self._context = context
        self._stream = torch.cuda.Stream()

    def _torch_dtype(self, name: str) -> object:
        import torch

        dtype = self._trt.nptype(self._engine.get_tensor_dtype(name))
        return torch.from_numpy(np.empty(0, dtype=dtype)).dtype

    def prepare(self, seed: int) -> None:
        import torch

        from ghostbench.core.inputs import to_runtime_input

        name = self._inputs[0]
        feed = to_runtime_input(example_input(self._cell.model, seed), self._meta)
        if -1 in tuple(self._engine.get_tensor_shape(name)):  # dynamic engine: fix batch 1
            self._context.set_input_shape(name, feed.shape)
        x = torch.from_numpy(feed).to("cuda", self._torch_dtype(name))
        self._buffers = {name: x}
        for out in self._outputs:
            shape = tuple(self._context.get_tensor_shape(out))
            self._buffers[out] = torch.empty(shape, dtype=self._torch_dtype(out), device="cuda")
        for tensor_name, buffer in self._buffers.items():
            self._context.set_tensor_address(tensor_name, buffer.data_ptr())
        torch.cuda.synchronize()
        self._events = CudaEvents(self._stream)

    def set_input(self, x: np.ndarray) -> None:
        """Copy ``x`` (NCHW float32, like the example input) into the bound input buffer, after
        ``prepare``: accuracy evaluation scores real images through the engine that is timed."""
        import torch

        from ghostbench.core.inputs import to_runtime_input

        feed = torch.from_numpy(to_runtime_input(x, self._meta))
        self._buffers[self._inputs[0]].copy_(feed)
        torch.cuda.synchronize()  # the engine runs on its own stream

    def run_once(self) -> int:
        return self._events.time(self._enqueue)

    def output(self) -> np.ndarray:
        """The first output of the last inference (for correctness checks, never timed)."""
        return self._buffers[self._outputs[0]].cpu().numpy()

    def _enqueue(self) -> None:
        if not self._context.execute_async_v3(self._stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed")
