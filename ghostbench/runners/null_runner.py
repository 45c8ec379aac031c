"""The null backend: times nothing, so its median is the floor of the clock and loop (mlperf's
backend_null). It also injects faults on request, so the isolation of workers (a segfault, a hang,
an exception) can be exercised end to end with the real worker and parent code."""

from __future__ import annotations

import ctypes
import threading
from time import perf_counter_ns
from typing import TYPE_CHECKING, ClassVar

from ghostbench import __version__
from ghostbench.core.errors import GhostbenchError
from ghostbench.runners.base import RunnerBase

if TYPE_CHECKING:
    from ghostbench.core.artifact import Artifact
    from ghostbench.core.cell import Cell

FAULTS: tuple[str, ...] = ("raise", "segfault", "hang")


class InjectedFault(RuntimeError):
    """Raised by ``fault=raise``."""


class NullRunner(RunnerBase):
    OPTIONS: ClassVar = {"fault": f"fail on the first timed call: {', '.join(FAULTS)} (tests the worker)"}
    DEVICES: ClassVar = ("cpu", "cuda")
    PRECISIONS: ClassVar = ("fp32", "fp16", "int8", "int8_dynamic")

    runtime = "ghostbench"

    @classmethod
    def check(cls, cell: Cell) -> None:
        super().check(cell)
        fault = cell.options.get("fault")
        if fault is not None and fault not in FAULTS:
            raise GhostbenchError(f"unknown fault {fault!r}; valid: {', '.join(FAULTS)}")

    def version(self) -> str:
        return __version__

    def load(self, cell: Cell, artifact: Artifact | None) -> None:
        self._fault = cell.options.get("fault")

    def prepare(self, seed: int) -> None:
        """Nothing to place: the null backend has no input."""

    def run_once(self) -> int:
        if self._fault is not None:
            _inject(self._fault)
        start = perf_counter_ns()
        return perf_counter_ns() - start


def _inject(fault: str) -> None:
    if fault == "raise":
        raise InjectedFault("injected fault: the null runner raised on purpose")
    if fault == "segfault":
        ctypes.string_at(0)  # reads address 0: a real SIGSEGV, not a Python exception
    if fault == "hang":
        threading.Event().wait()  # blocks forever, like a hung GPU call
