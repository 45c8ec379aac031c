"""CUDA windows one after another in one long-lived worker per backend: the process, ``import
torch``, the CUDA context and the cuDNN and cuBLAS handles are paid once per run, not per window.

A CUDA window cannot be forked from a warm server (CUDA must never be initialised before a fork),
and a fresh interpreter per window costs seconds of start-up before the first timed inference:
``import torch`` with its CUDA libraries, then the context. On a lent GPU whose whole lease is
15 minutes that start-up, not the timing, decided whether the GPU profile fits (the numbers are in
``docs/methodology.md``). So a session worker (``python -m ghostbench.worker.session``) runs each
window exactly as a fresh worker does (``process.measure_payload``: check the cell, create the
runner, build the model, place the input, warm up, time, close), then tidies up (garbage,
the CUDA caching allocator) and waits for the next request.

Isolation is kept where it matters: a window that fails in any way (an exception, a CUDA error,
which can leave the context unusable, a crash, a hang) costs that window one error row, and the
worker it ran in is ended; the next window gets a new one. A worker that dies between windows
costs no window. What a window shares with the one before it in the same worker is the process
and the GPU state it leaves (context, allocator pools, cuDNN's algorithm caches, inductor's
compiled-kernel caches), never a model or an input.

Protocol: one JSON request per line on the worker's stdin, ``{"payload": {...}, "deadline_s": S}``
(``payload`` is what a fresh worker reads); one JSON answer per line on its stdout, the same answer
a fresh worker gives. The worker's file descriptor 1 points at stderr, as a fresh worker's does;
what it writes to stderr during a window is that window's stderr tail.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import json
import os
import selectors
import signal
import subprocess
import sys
import time
import traceback
from typing import IO

from ghostbench.core.errors import GhostbenchError
from ghostbench.core.window import WindowOutcome
from ghostbench.worker import process

# Devices whose windows run in a session worker.
DEVICES: tuple[str, ...] = ("cuda",)
DRAIN_TIMEOUT_S = 10.0  # after killing a timed-out worker, for its pipes to close
CHUNK_BYTES = 1 << 16


def key_for(cell: dict, devices: tuple[str, ...] = DEVICES) -> tuple[str, str] | None:
    """The worker a cell's windows share, (device, backend), or None when the cell gets a fresh
    worker per window. One worker per backend, so a window's process holds the libraries and
    compiler state of its own backend only."""
    if cell.get("device") not in devices:
        return None
    return str(cell.get("device")), str(cell.get("backend"))


class SessionWorker:
    """The parent's side of one session worker."""

    def __init__(self, *, python: str = sys.executable) -> None:
        env = dict(os.environ)
        env[process.PARENT_PID_ENV] = str(os.getpid())
        self._proc = subprocess.Popen(
            [python, "-m", "ghostbench.worker.session"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a timeout kills its whole group, compile workers included
            env=env,
        )
        self._pending = b""  # stdout bytes after the last answer's newline (none, normally)
        self.windows = 0

    @property
    def pid(self) -> int:
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc.poll() is None

    def run(self, payload: dict, *, timeout_s: float) -> WindowOutcome:
        """One window; the caller ends this worker after any outcome that is not ok."""
        start = time.perf_counter()
        line = json.dumps({"payload": payload, "deadline_s": timeout_s + process.DEADLINE_MARGIN_S})
        try:
            try:
                self._proc.stdin.write(line.encode() + b"\n")
                self._proc.stdin.flush()
            except BrokenPipeError:
                pass  # it died: reading finds the end of its output and the exit status
            answer, err, timed_out = self._read_answer(timeout_s)
        except BaseException:  # Ctrl-C in the parent: the worker is in its own session, end it too
            self.close()
            raise
        self.windows += 1
        wall_s = time.perf_counter() - start
        if answer is not None:
            # ``outcome`` reads an answer as a fresh worker's: exit status 0 for ok, 1 for an error.
            code = 0 if answer.get("status") == "ok" else 1
            return process.outcome(
                code, json.dumps(answer).encode(), err, timed_out=False, timeout_s=timeout_s, wall_s=wall_s
            )
        try:
            returncode = self._proc.wait(timeout=DRAIN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill_group(self.pid)
            returncode = self._proc.wait()
        return process.outcome(returncode, b"", err, timed_out=timed_out, timeout_s=timeout_s, wall_s=wall_s)

    def _read_answer(self, timeout_s: float) -> tuple[dict | None, bytes, bool]:
        """The answer line and the stderr written until it came; ``None`` for no answer (the
        worker ended, or ``timeout_s`` passed and it was killed)."""
        out_fd, err_fd = self._proc.stdout.fileno(), self._proc.stderr.fileno()
        out, err = [self._pending], []
        self._pending = b""
        deadline = time.monotonic() + timeout_s
        timed_out = ended = False
        with selectors.DefaultSelector() as selector:
            selector.register(out_fd, selectors.EVENT_READ)
            selector.register(err_fd, selectors.EVENT_READ)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    if timed_out or ended:  # killed, and still some holder of the pipes lives
                        break
                    timed_out = True
                    process.kill_group(self.pid)
                    deadline = time.monotonic() + DRAIN_TIMEOUT_S
                    continue
                for key, _ in selector.select(left):
                    data = os.read(key.fd, CHUNK_BYTES)
                    if not data:
                        selector.unregister(key.fd)
                        if key.fd == out_fd and not ended:
                            # The worker ended: end what is left of its group (compile workers
                            # hold its stderr too), then read that stderr to its end.
                            ended = True
                            process.kill_group(self.pid)
                            deadline = min(deadline, time.monotonic() + DRAIN_TIMEOUT_S)
                    elif key.fd == err_fd:
                        err.append(data)
                    else:
                        out.append(data)
                        if b"\n" in data and not timed_out:
                            line, _, self._pending = b"".join(out).partition(b"\n")
                            _drain(err_fd, err)
                            return json.loads(line), b"".join(err), False
        return None, b"".join(err), timed_out

    def close(self) -> None:
        """End the worker and its process group."""
        with contextlib.suppress(OSError):
            self._proc.stdin.close()
        process.kill_group(self.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=DRAIN_TIMEOUT_S)
        for stream in (self._proc.stdout, self._proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()


def _drain(fd: int, into: list[bytes]) -> None:
    """What ``fd`` holds now, without waiting for more."""
    os.set_blocking(fd, False)
    try:
        while data := os.read(fd, CHUNK_BYTES):
            into.append(data)
    except BlockingIOError:
        pass
    finally:
        os.set_blocking(fd, True)


# The worker side: runs in ``python -m ghostbench.worker.session``.


def tidy() -> None:
    """Between windows: drop the last window's objects and hand the CUDA caching allocator's
    free blocks back, so a window starts with the memory a fresh worker would have."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def main(stdin: IO[str] = sys.stdin) -> int:
    """Serve windows until stdin ends; exit 1 after the first window that fails (a CUDA error can
    leave the context unusable, so no later window may run in this process)."""
    answer_fd = os.dup(1)
    os.dup2(2, 1)  # anything written to fd 1 from here on (C libraries included) goes to stderr
    sys.stdout = sys.stderr
    faulthandler.enable()
    if process.PARENT_PID_ENV in os.environ:
        process.die_with_parent(int(os.environ[process.PARENT_PID_ENV]))
    with os.fdopen(answer_fd, "w") as answers:
        for line in stdin:
            request = json.loads(line)
            process.arm_deadline(float(request["deadline_s"]))
            try:
                answer = process.measure_payload(request["payload"])
            except GhostbenchError as exc:
                answer = {"status": "error", "error": str(exc)}
            except Exception as exc:
                traceback.print_exc()
                answer = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stderr.flush()
            answers.write(json.dumps(answer) + "\n")
            answers.flush()
            if answer["status"] != "ok":
                return 1
            tidy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
