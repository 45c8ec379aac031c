"""A converter that can end the whole process runs in a child process.

litert-torch lowers through XLA, whose ``CHECK`` failures call ``abort()``: under a memory limit,
``pthread_create() failed`` killed ``ghostbench bench`` outright (exit 134, nothing on the
terminal, the reason only in the entry's ``export.log``). In a child, that abort is one failed
export with the last line of its log; the run goes on. torch's ONNX exporter has segfaulted the
same way under a memory limit. A format opts in with ``ISOLATE = True`` in its exporter module
(ONNX and TFLite; TensorRT builds in-process until it has run on a GPU, issue 19).

The child is a fresh ``python -m ghostbench.exporters.isolate`` (no fork of a process that holds
torch's threads, and unlike multiprocessing's spawn it never re-runs the caller's script). The
request and the answer are pickles between two processes of this same installation; the child's
stderr (and its stdout, once it has saved the answer's pipe) is the log that
:func:`capture.converter_output` has pointed file descriptor 2 at.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import signal
import subprocess
import sys
import traceback
from pathlib import Path

from ghostbench.core.errors import GhostbenchError

LAST_LINE_CHARS = 300


class ChildFailure(RuntimeError):
    """The converter raised in the child, or the child died; ``str`` says which and why."""


def build(module_name: str, log: Path, *args: object, **kwargs: object) -> dict:
    """``importlib.import_module(module_name).build(*args, **kwargs)`` in a child process.

    A model the child cannot import (a builder defined inside a function or in ``__main__``) is
    built here instead: registry models always cross, so the guard covers every model that
    ``ghostbench`` itself exports."""
    try:
        payload = pickle.dumps((module_name, args, kwargs))
    except (pickle.PicklingError, AttributeError, TypeError):
        payload = None
    # Not picklable, or pickled by reference to the caller's script, which the child does not run.
    if payload is None or b"__main__" in payload:
        return importlib.import_module(module_name).build(*args, **kwargs)
    request = pickle.dumps((sys.path, payload))  # the child imports what this process can
    # stdout carries the answer; stderr is the caller's, which converter_output points at the log.
    proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        out, _ = proc.communicate(request)
    except BaseException:  # Ctrl-C: the child goes too, and no half-written file is kept
        proc.kill()
        proc.wait()
        raise
    try:
        status, payload = pickle.loads(out)
    except Exception:
        raise ChildFailure(f"the converter process died ({_how(proc.returncode)}){_last_line(log)}") from None
    if status == "ok":
        return payload
    kind, message = payload
    if kind == "GhostbenchError":
        raise GhostbenchError(message)
    raise ChildFailure(f"{kind}: {message}" if message else kind)


def _child() -> int:
    answer_fd = os.dup(1)
    os.dup2(2, 1)  # converters that print go to the log, not into the answer
    path, payload = pickle.loads(sys.stdin.buffer.read())
    sys.path[:0] = [entry for entry in path if entry not in sys.path]
    module_name, args, kwargs = pickle.loads(payload)
    try:
        answer = ("ok", importlib.import_module(module_name).build(*args, **kwargs))
    except GhostbenchError as exc:
        answer = ("error", ("GhostbenchError", str(exc)))
    except BaseException as exc:
        traceback.print_exc()  # into export.log
        text = str(exc).strip()
        answer = ("error", (type(exc).__name__, text.splitlines()[0] if text else ""))
    with os.fdopen(answer_fd, "wb") as out:
        out.write(pickle.dumps(answer))
    return 0


def _how(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
        return f"killed by signal {-returncode}"
    return f"exit {returncode}"


def _last_line(log: Path) -> str:
    """``; last output: ...``: the log's last line, usually the abort's own reason."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f"; last output: {lines[-1][:LAST_LINE_CHARS]}" if lines else ""


if __name__ == "__main__":
    sys.exit(_child())
