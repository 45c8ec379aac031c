"""One measurement window of one cell in a fresh process, so a crash, a hang or an out-of-memory
kill costs one error row, never the run (pyperf's worker/manager split).

Protocol, JSON both ways, no pickle:

- the parent starts ``python -m ghostbench.worker.process`` in a new session (so a timeout kills
  the whole process group, compile workers included) and writes one request to its stdin:
  ``{"protocol": 1, "cell": {...}, "artifact": {...} | null, "harness": {...}, "seed": 0, "window": 0}``;
- the worker answers with one JSON object on its stdout: ``{"status": "ok", "runtime": ...,
  "runtime_version": ..., "device_name": ..., "window": WindowResult, "env_before": ...,
  "env_after": ...}`` or ``{"status": "error", "error": "..."}``. Before anything else it points
  file descriptor 1 at stderr, so a library that prints cannot corrupt the answer;
- stderr is captured; its tail goes into the error of a failed window;
- the worker never outlives the window it was started for: it asks the kernel to kill it when
  its parent dies (``PR_SET_PDEATHSIG`` on Linux, a polling thread elsewhere), and it arms its own
  deadline (``SIGALRM``, whose default action ends the process without needing Python) a margin
  after the parent's timeout, so a hung worker ends even if the parent was killed with SIGKILL.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from typing import IO

from ghostbench.core.cell import Cell
from ghostbench.core.errors import GhostbenchError
from ghostbench.core.window import PROTOCOL, WindowOutcome

# The worker's own deadline is the parent's timeout plus this margin: normally the parent kills
# first and reports a timeout; the worker's alarm is for a parent that can no longer do it.
DEADLINE_MARGIN_S = 10.0
PARENT_PID_ENV = "GHOSTBENCH_WORKER_PARENT"
DEADLINE_ENV = "GHOSTBENCH_WORKER_DEADLINE_S"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

STDERR_TAIL_LINES = 20
STDERR_TAIL_CHARS = 2000


def crash_tail(text: str) -> str:
    """The last lines of a worker's stderr: what explains a failed window in its error row.

    faulthandler ends a crash report with one huge "Extension modules: ..." line; the traceback
    above it is what explains the crash, so that line is dropped."""
    kept = [line for line in text.strip().splitlines() if not line.startswith("Extension modules:")]
    lines = kept[-STDERR_TAIL_LINES:]
    return "\n".join(lines)[-STDERR_TAIL_CHARS:]


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def child_env(payload: dict, timeout_s: float, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker for ``payload``: the cell's thread count for any OpenMP pool
    (not one inherited from the parent), this process as the parent to outlive, and the worker's
    own deadline."""
    child = dict(os.environ if env is None else env)
    child["OMP_NUM_THREADS"] = str(payload["cell"].get("threads", 1))
    child[PARENT_PID_ENV] = str(os.getpid())
    child[DEADLINE_ENV] = f"{timeout_s + DEADLINE_MARGIN_S:.3f}"
    return child


def spawn(
    payload: dict,
    *,
    timeout_s: float,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
) -> WindowOutcome:
    """Run one worker on ``payload`` and turn every way it can end into a :class:`WindowOutcome`."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [python, "-m", "ghostbench.worker.process"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=child_env(payload, timeout_s, env),
    )
    timed_out = False
    try:
        out, err = proc.communicate(json.dumps(payload).encode(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc.pid)
        out, err = proc.communicate()
    except BaseException:  # Ctrl-C in the parent: the worker is in its own session, end it too
        kill_group(proc.pid)
        proc.wait()
        raise
    wall_s = time.perf_counter() - start
    return outcome(proc.returncode, out, err, timed_out=timed_out, timeout_s=timeout_s, wall_s=wall_s)


def outcome(
    returncode: int, out: bytes, err: bytes, *, timed_out: bool, timeout_s: float, wall_s: float
) -> WindowOutcome:
    """Every way a worker can end (answer, error, crash, signal, timeout) as a :class:`WindowOutcome`;
    ``returncode`` is negative for a signal, as ``subprocess`` gives it."""
    tail = crash_tail(err.decode(errors="replace"))
    result = WindowOutcome(status="error", returncode=returncode, wall_s=wall_s, stderr_tail=tail)
    answer = None
    if out.strip():
        try:
            answer = json.loads(out)
        except json.JSONDecodeError:
            answer = None
    if timed_out:
        reason = f"worker timed out after {timeout_s:g} s and was killed"
    elif returncode == -signal.SIGALRM:
        reason = f"worker reached its own deadline of {timeout_s + DEADLINE_MARGIN_S:g} s and ended"
    elif returncode < 0:
        name = _signal_name(returncode)
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        reason = f"worker died from {name}{hint}"
    elif isinstance(answer, dict) and answer.get("status") == "ok" and returncode == 0:
        result.status = "ok"
        result.result = answer
        return result
    elif isinstance(answer, dict) and answer.get("error"):
        reason = str(answer["error"])
    else:
        reason = f"worker exited with code {returncode} and no result"
    result.error = f"{reason}\n{tail}".strip() if tail else reason
    return result


def die_with_parent(parent: int) -> None:
    """End this process when ``parent`` (the pid that started it) dies, whatever kills it."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl failed")
    except (OSError, AttributeError):  # not Linux: watch the parent from a thread
        import threading

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(137)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # it died before the request above took effect
        os._exit(137)


def arm_deadline(seconds: float) -> None:
    """Be ended by SIGALRM after ``seconds``: its default action needs no Python, so it works
    while a C extension holds the interpreter."""
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def measure_payload(payload: dict) -> dict:
    """One window of ``payload`` in this process: the answer a worker writes."""
    from ghostbench.core.window import HarnessConfig
    from ghostbench.runners import create, runner_class
    from ghostbench.worker import env
    from ghostbench.worker.harness import measure_window

    if payload.get("protocol") != PROTOCOL:
        raise GhostbenchError(f"worker protocol {payload.get('protocol')!r} is not {PROTOCOL}")
    cell = Cell.from_dict(payload["cell"])
    artifact = None
    if payload.get("artifact"):
        from ghostbench.core.artifact import Artifact

        artifact = Artifact.from_dict(payload["artifact"])
    config = HarnessConfig.from_dict(payload["harness"])
    runner_class(cell.backend).check(cell)
    runner = create(cell.backend)
    before = env.probe(cell.device)
    try:
        window = measure_window(runner, cell, artifact, config, seed=payload.get("seed", 0))
        after = env.probe(cell.device)
        return {
            "status": "ok",
            "runtime": runner.runtime,
            "runtime_version": runner.version(),
            "device_name": env.device_name(cell.device),
            "window": window.to_dict(),
            "env_before": before,
            "env_after": after,
        }
    finally:
        runner.close()


def main(stdin: IO[str] = sys.stdin) -> int:
    """Worker entry point: one request in, one answer out, exit 0 on success and 1 on failure."""
    answer_fd = os.dup(1)
    os.dup2(2, 1)  # anything written to fd 1 from here on (C libraries included) goes to stderr
    sys.stdout = sys.stderr
    faulthandler.enable()  # a segfault leaves a Python traceback in the stderr tail
    if PARENT_PID_ENV in os.environ:
        die_with_parent(int(os.environ[PARENT_PID_ENV]))
    if DEADLINE_ENV in os.environ:
        arm_deadline(float(os.environ[DEADLINE_ENV]))
    try:
        answer = measure_payload(json.load(stdin))
    except GhostbenchError as exc:
        answer = {"status": "error", "error": str(exc)}
    except Exception as exc:
        traceback.print_exc()
        answer = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    with os.fdopen(answer_fd, "w") as out:
        json.dump(answer, out)
    return 0 if answer["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
