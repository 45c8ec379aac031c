"""The null backend: times nothing, so its median is the floor of the clock and loop (mlperf's
backend_null). It also injects faults on request, so the isolation of workers (a segfault, a hang,
an exception, running out of memory, a SIGKILL as the kernel's OOM killer sends it) can be
exercised end to end with the real worker and parent code."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import threading
from time import perf_counter_ns
from typing import TYPE_CHECKING, ClassVar

from ghostbench import __version__
from ghostbench.core.errors import GhostbenchError
from ghostbench.runners.base import RunnerBase

if TYPE_CHECKING:
    from ghostbench.core.artifact import Artifact
    from ghostbench.core.cell import Cell

FAULTS: tuple[str, ...] = ("raise", "segfault", "hang", "oom", "sigkill")
# fault=oom caps the worker's address space this far above what it maps already, then fills it.
OOM_HEADROOM_BYTES = 256 * 2**20


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
    if fault == "oom":
        _exhaust_memory()
    if fault == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer does


def _exhaust_memory() -> None:
    """Allocate 16 MiB blocks (each touched) until the capped address space is full: a real
    MemoryError from the allocator, without putting the machine under memory pressure."""
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    limit = mapped + OOM_HEADROOM_BYTES
    resource.setrlimit(
        resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard)
    )
    blocks = []
    while True:
        blocks.append(bytearray(16 * 2**20))
