"""The Runner protocol and what every runner shares.

A runner only answers queries (mlperf's system under test): ``load`` and ``prepare`` are untimed,
``run_once`` times exactly one synchronous inference with the backend's best clock and returns
nanoseconds. Runners never loop, sleep or compute statistics: ``worker/harness.py`` owns warm-up,
stopping and the time budget. Heavy libraries are imported inside methods, so a runner class can be
imported (and its ``check`` run) in the parent process without the backend's library.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from ghostbench.core.errors import GhostbenchError, MissingDependencyError

if TYPE_CHECKING:
    import torch

    from ghostbench.core.artifact import Artifact
    from ghostbench.core.cell import Cell


@runtime_checkable
class Runner(Protocol):
    """One backend: load, place the input, time one inference, close."""

    @property
    def runtime(self) -> str:
        """The library that runs the model, e.g. ``onnxruntime``, ``ai-edge-litert``, ``torch``."""
        ...

    @classmethod
    def check(cls, cell: Cell) -> None:
        """Raise :class:`GhostbenchError` if this machine cannot run ``cell``; cheap, loads nothing."""
        ...

    def version(self) -> str: ...

    def load(self, cell: Cell, artifact: Artifact | None) -> None:
        """Create the session / engine / model on ``cell.device`` with ``cell.threads`` (untimed)."""
        ...

    def prepare(self, seed: int) -> None:
        """Put the fixed-seed batch-1 input on the device (untimed)."""
        ...

    def run_once(self) -> int:
        """Nanoseconds of one synchronous inference."""
        ...

    def close(self) -> None: ...


class RunnerBase:
    """Shared validation. Subclasses declare what they accept; ``check`` enforces it up front so a
    bad cell fails in the parent with one line instead of in a worker."""

    # Cell options this backend understands, with what each does (shown in errors and docs).
    OPTIONS: ClassVar[Mapping[str, str]] = {}
    DEVICES: ClassVar[tuple[str, ...]] = ("cpu",)
    PRECISIONS: ClassVar[tuple[str, ...]] = ("fp32",)
    # (importable module, pip extra that provides it)
    REQUIRES: ClassVar[tuple[tuple[str, str], ...]] = ()
    # Modules a fork server imports before forking this backend's windows (worker/forkserver.py):
    # what every window would import anyway. One that is missing is skipped there.
    PRELOAD: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def check(cls, cell: Cell) -> None:
        unknown = sorted(set(cell.options) - set(cls.OPTIONS))
        if unknown:
            valid = ", ".join(cls.OPTIONS) or "none"
            raise GhostbenchError(
                f"backend {cell.backend!r} has no option {', '.join(unknown)}; valid options: {valid}"
            )
        if cell.device not in cls.DEVICES:
            raise GhostbenchError(
                f"backend {cell.backend!r} does not run on {cell.device!r} "
                f"(it runs on: {', '.join(cls.DEVICES)})"
            )
        if cell.precision not in cls.PRECISIONS:
            raise GhostbenchError(
                f"backend {cell.backend!r} does not run {cell.precision!r} "
                f"(it runs: {', '.join(cls.PRECISIONS)})"
            )
        if cell.threads < 1:
            raise GhostbenchError(f"threads must be >= 1, got {cell.threads}")
        for module, extra in cls.REQUIRES:
            require_module(module, extra, f"the {cell.backend} backend")
        if cell.device == "cuda":
            require_cuda()

    def close(self) -> None:
        """Drop references so the library frees its buffers before the worker exits."""
        self.__dict__.clear()


def require_module(module: str, extra: str, what: str) -> None:
    """Raise :class:`MissingDependencyError` naming ``extra`` when ``module`` cannot be imported."""
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(module, extra, what)


def require_cuda(what: str = "--device cuda") -> None:
    """Raise unless PyTorch sees a CUDA device (every GPU runner uses torch for buffers and events)."""
    try:
        import torch
    except ImportError:
        raise GhostbenchError(f"{what} needs torch with CUDA: make bench DEVICE=gpu installs it") from None
    if not torch.cuda.is_available():
        built = f"torch {torch.__version__}, CUDA {torch.version.cuda or 'not built in'}"
        raise GhostbenchError(f"{what}: no CUDA GPU is available here ({built}); use the CPU profile")


def option_bool(cell: Cell, name: str, default: bool) -> bool:
    """A yes/no cell option, given as a JSON bool or as text from ``--option name=true``."""
    value = cell.options.get(name, default)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise GhostbenchError(f"option {name}={value!r} of backend {cell.backend!r} must be true or false")


def require_artifact(cell: Cell, artifact: Artifact | None, fmt: str) -> Path:
    """The artifact's file, after checking it exists and has the format this backend runs."""
    if artifact is None:
        raise GhostbenchError(f"backend {cell.backend!r} needs a {fmt} artifact for {cell.key}")
    if artifact.format != fmt:
        raise GhostbenchError(f"backend {cell.backend!r} runs {fmt} files, got a {artifact.format} artifact")
    path = Path(artifact.path)
    if not path.is_file():
        raise GhostbenchError(f"artifact not found: {path}")
    return path


def example_input(model: str, seed: int) -> torch.Tensor:
    """The fixed-seed NCHW float32 input of registry ``model``: the tensor parity checks use."""
    import torch

    from ghostbench.core.inputs import image_input
    from ghostbench.models import registry

    return torch.from_numpy(image_input(registry.get(model).input_size, seed))


class CudaEvents:
    """GPU time of the work enqueued between two CUDA events on one stream.

    Recording ``start`` before the launch and waiting on ``end`` after it counts launch gaps where
    the GPU idles waiting for the CPU, which is what batch-1 latency is.
    """

    def __init__(self, stream: torch.cuda.Stream | None = None) -> None:
        import torch

        self._stream = stream if stream is not None else torch.cuda.current_stream()
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def time(self, launch: Callable[[], object]) -> int:
        """Run ``launch`` (which enqueues work on the stream) and return its GPU time in ns."""
        self._start.record(self._stream)
        launch()
        self._end.record(self._stream)
        self._end.synchronize()
        return round(self._start.elapsed_time(self._end) * 1_000_000)
