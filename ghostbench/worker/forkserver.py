"""Windows forked from a warm server: the imports are paid once per run, the isolation per window.

A fresh ``python -m ghostbench.worker.process`` pays the interpreter start, numpy and scipy and
the backend's library (``import torch`` alone is 1.1-1.6 s here) in every window. A fork server
(``python -m ghostbench.worker.forkserver``) imports them once, then forks one child per window;
the child runs exactly what a fresh worker runs (``process.main``: same request on stdin, same
answer on stdout, same stderr tail, own session, ``PR_SET_PDEATHSIG`` on the server, own
``SIGALRM`` deadline), so a crash, hang or out-of-memory kill still costs one window. The model is
loaded, warmed up and timed in the child, never in the server.

Protocol, over an ``AF_UNIX`` ``SOCK_SEQPACKET`` pair (one message per datagram):

- the server, started with the modules to import, answers ``{"ready": true, "failed": [...]}``;
- per window the parent sends ``{"env": {...}}`` with three file descriptors (``SCM_RIGHTS``): the
  child's stdin, stdout and stderr pipes. The server forks, answers ``{"pid": N}``, waits for the
  child and answers ``{"pid": N, "returncode": R}`` (negative for a signal, as ``subprocess``);
- the parent writes the request into the stdin pipe, reads both output pipes to their end (killing
  the child's process group at the timeout) and turns it all into a ``WindowOutcome`` with the
  same code as a fresh worker (``process.outcome``).

One server per set of preloaded modules (one per backend library) and thread count, so a window's
process holds the libraries a fresh worker of that backend would load, not every backend's, and an
OpenMP runtime loaded by the server read the cell's ``OMP_NUM_THREADS`` as a fresh worker's does. A
child sees the environment the server started with (plus the cell's settings), not later changes
to the parent's. Only CPU cells are forked (CUDA must never be initialised before a fork: CUDA
cells go to ``worker.session``), and only on Linux. If a server dies or cannot start, the window
runs in a fresh worker instead, and the next window starts a new server. ``worker.pool`` picks the
way for each window.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import traceback

from ghostbench.core.window import WindowOutcome
from ghostbench.worker import process

log = logging.getLogger(__name__)

# Modules every window imports, whatever its backend (numpy, scipy.stats, the harness, the probes).
BASE_PRELOAD: tuple[str, ...] = (
    "ghostbench.worker.process",
    "ghostbench.worker.harness",
    "ghostbench.worker.env",
    "ghostbench.runners",
    "ghostbench.core.artifact",
)
READY_TIMEOUT_S = 120.0  # a cold import of torch on a loaded board can take tens of seconds
REPLY_TIMEOUT_S = 30.0  # fork and answer; the server does nothing else meanwhile
DRAIN_TIMEOUT_S = 10.0  # after killing a timed-out child, for its pipes to close
MESSAGE_BYTES = 1 << 16


class ServerLost(Exception):
    """The fork server died, or did not answer in time; the window is run in a fresh worker."""


def supported() -> bool:
    """Fork servers need ``fork``, ``SCM_RIGHTS`` over ``SOCK_SEQPACKET`` and ``PR_SET_PDEATHSIG``: Linux."""
    return sys.platform.startswith("linux") and hasattr(socket, "send_fds")


def preload_for(cell: dict) -> tuple[str, ...] | None:
    """The modules a server for this cell imports, or None when the cell must not be forked."""
    from ghostbench.core.errors import GhostbenchError
    from ghostbench.runners import runner_class

    if cell.get("device") != "cpu":
        return None
    try:
        cls = runner_class(str(cell.get("backend")))
    except GhostbenchError:
        return None  # a fresh worker reports the unknown backend as usual
    return BASE_PRELOAD + tuple(getattr(cls, "PRELOAD", ()))


def _send(sock: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.sendall(data)


class ForkServer:
    """One server process (the parent side): start it, fork windows from it, end it."""

    def __init__(self, preload: tuple[str, ...], *, threads: int = 1, python: str = sys.executable) -> None:
        self.preload = preload
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ)
        env[process.PARENT_PID_ENV] = str(os.getpid())
        # An OpenMP runtime reads this once, when the library loads: in the server, not the child.
        env["OMP_NUM_THREADS"] = str(threads)
        try:
            self._proc = subprocess.Popen(
                [python, "-m", "ghostbench.worker.forkserver", str(theirs.fileno()), *preload],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        finally:
            theirs.close()
        self._sock = ours
        try:
            ready = self._receive(READY_TIMEOUT_S)
            if not ready.get("ready"):
                raise ServerLost(f"fork server did not start: {ready}")
        except BaseException:  # not ready in time, or Ctrl-C while it imports: no server left behind
            self.close()
            raise
        if ready.get("failed"):  # the child imports them again and reports the real error
            log.debug("fork server could not preload %s", ", ".join(ready["failed"]))

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _receive(self, timeout_s: float) -> dict:
        self._sock.settimeout(max(timeout_s, 0.001))
        try:
            data = self._sock.recv(MESSAGE_BYTES)
        except TimeoutError:
            raise ServerLost(f"fork server {self.pid} did not answer within {timeout_s:g} s") from None
        except OSError as exc:
            raise ServerLost(f"fork server {self.pid}: {exc}") from None
        if not data:
            code = self._proc.poll()
            raise ServerLost(f"fork server {self.pid} ended (exit status {code})")
        return json.loads(data)

    def run(self, payload: dict, *, timeout_s: float) -> WindowOutcome:
        """One window in a child forked for it; raises :class:`ServerLost` if the server fails."""
        env = process.child_env(payload, timeout_s, env={})
        env.pop(process.PARENT_PID_ENV)  # the child's parent is the server, which sets it
        stdin_r, stdin_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        pid = None
        start = time.perf_counter()
        try:
            try:
                _send(self._sock, {"env": env}, [stdin_r, out_w, err_w])
            except OSError as exc:
                raise ServerLost(f"fork server {self.pid}: {exc}") from None
            finally:
                for fd in (stdin_r, out_w, err_w):
                    os.close(fd)
            pid = self._receive(REPLY_TIMEOUT_S)["pid"]
            with os.fdopen(stdin_w, "wb") as stdin:
                stdin_w = -1
                with contextlib.suppress(BrokenPipeError):  # a child that died at once
                    stdin.write(json.dumps(payload).encode())
            out, err, timed_out = _read_all(out_r, err_r, pid, timeout_s)
            returncode = self._exit_status(pid, timed_out)
            wall_s = time.perf_counter() - start
        except BaseException:  # Ctrl-C, or the server lost mid-window: the child must not stay
            if pid is not None:
                process.kill_group(pid)
            raise
        finally:
            for fd in (stdin_w, out_r, err_r):
                if fd >= 0:
                    os.close(fd)
        return process.outcome(returncode, out, err, timed_out=timed_out, timeout_s=timeout_s, wall_s=wall_s)

    def _exit_status(self, pid: int, killed: bool) -> int:
        """The child's exit status from the server; its output has ended, so it has (nearly) exited.
        A child that closed its pipes but lives on is killed at once if timed out, else waited for."""
        timeout_s = DRAIN_TIMEOUT_S if killed else REPLY_TIMEOUT_S
        try:
            answer = self._receive(timeout_s)
        except ServerLost:
            process.kill_group(pid)
            raise
        if answer.get("pid") != pid:
            raise ServerLost(f"fork server {self.pid} answered for pid {answer.get('pid')}, not {pid}")
        return int(answer["returncode"])

    def close(self) -> None:
        """End the server (its children have all been waited for)."""
        with contextlib.suppress(OSError):
            self._sock.close()
        process.kill_group(self._proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=10)


def _read_all(out_r: int, err_r: int, pid: int, timeout_s: float) -> tuple[bytes, bytes, bool]:
    """Both output pipes to their end, as ``communicate`` does; at ``timeout_s`` the child's
    process group is killed and what it wrote so far is kept."""
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    deadline = time.monotonic() + timeout_s
    timed_out = False
    with selectors.DefaultSelector() as selector:
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                if timed_out:  # killed, and still some holder of the pipes lives: stop reading
                    break
                timed_out = True
                process.kill_group(pid)
                deadline = time.monotonic() + DRAIN_TIMEOUT_S
                continue
            for key, _ in selector.select(left):
                data = os.read(key.fd, MESSAGE_BYTES)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
    return b"".join(chunks[out_r]), b"".join(chunks[err_r]), timed_out


# The server side: runs in ``python -m ghostbench.worker.forkserver FD MODULE...``.


def _child(sock: socket.socket, fds: list[int], env: dict[str, str]) -> None:
    """In the forked child: become a fresh worker's equivalent and run ``process.main``; never returns."""
    code = 1
    try:
        sock.close()
        os.setsid()  # its own process group, so a timeout kills its compile workers too
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.update(env)
        os.environ[process.PARENT_PID_ENV] = str(os.getppid())
        code = process.main(sys.stdin)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _preload(name: str) -> None:
    """Import ``module``, or import ``module:function`` and call the function (which loads more)."""
    module, _, function = name.partition(":")
    loaded = importlib.import_module(module)
    if function:
        getattr(loaded, function)()


def serve(sock: socket.socket, preload: list[str]) -> int:
    """Import ``preload``, then fork one child per request until the parent closes the socket."""
    failed = []
    for name in preload:
        try:
            _preload(name)
        except Exception:
            failed.append(name)
    _send(sock, {"ready": True, "failed": failed})
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, MESSAGE_BYTES, 3)
        except OSError:
            return 0
        if not data:
            return 0
        request = json.loads(data)
        pid = os.fork()
        if pid == 0:
            _child(sock, fds, request["env"])
        for fd in fds:
            os.close(fd)
        _send(sock, {"pid": pid})
        _, status = os.waitpid(pid, 0)
        _send(sock, {"pid": pid, "returncode": os.waitstatus_to_exitcode(status)})


def main(argv: list[str]) -> int:
    if process.PARENT_PID_ENV in os.environ:
        process.die_with_parent(int(os.environ[process.PARENT_PID_ENV]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    sock = socket.socket(fileno=int(argv[0]))
    try:
        return serve(sock, argv[1:])
    except (BrokenPipeError, ConnectionResetError):  # the parent went away between messages
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
