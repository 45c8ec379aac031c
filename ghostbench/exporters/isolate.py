"""A converter that can end the whole process runs in a child process.

litert-torch lowers through XLA, whose ``CHECK`` failures call ``abort()``: under a memory limit,
``pthread_create() failed`` killed ``ghostbench bench`` outright (exit 134, nothing on the
terminal, the reason only in the entry's ``export.log``). In a child, that abort is one failed
export with the last line of its log; the run goes on. A format opts in with ``ISOLATE = True``
in its exporter module.

The child is started with ``spawn`` (no fork of a process that holds torch's threads) and inherits
file descriptors 1 and 2, which :func:`capture.converter_output` has pointed at ``export.log``.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import signal
import traceback
from pathlib import Path

from ghostbench.core.errors import GhostbenchError

LAST_LINE_CHARS = 300


class ChildFailure(RuntimeError):
    """The converter raised in the child, or the child died; ``str`` says which and why."""


def build(module_name: str, log: Path, *args: object, **kwargs: object) -> dict:
    """``importlib.import_module(module_name).build(*args, **kwargs)`` in a child process."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, module_name, args, kwargs), daemon=True)
    child.start()
    send.close()  # the child holds the only write end: its death is EOF here
    try:
        try:
            answer = receive.recv()
        except EOFError:
            answer = None
        child.join()
    except BaseException:  # Ctrl-C: the child goes too, and no half-written file is kept
        child.kill()
        child.join()
        raise
    finally:
        receive.close()
    if answer is None:
        raise ChildFailure(f"the converter process died ({_how(child.exitcode)}){_last_line(log)}")
    status, payload = answer
    if status == "ok":
        return payload
    kind, message = payload
    if kind == "GhostbenchError":
        raise GhostbenchError(message)
    raise ChildFailure(f"{kind}: {message}" if message else kind)


def _child(send, module_name: str, args: tuple, kwargs: dict) -> None:
    try:
        send.send(("ok", importlib.import_module(module_name).build(*args, **kwargs)))
    except GhostbenchError as exc:
        send.send(("error", ("GhostbenchError", str(exc))))
    except BaseException as exc:
        traceback.print_exc()  # into export.log
        text = str(exc).strip()
        send.send(("error", (type(exc).__name__, text.splitlines()[0] if text else "")))
    finally:
        send.close()


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-exitcode).name}"
        return f"killed by signal {-exitcode}"
    return f"exit {exitcode}"


def _last_line(log: Path) -> str:
    """``; last output: ...``: the log's last line, usually the abort's own reason."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f"; last output: {lines[-1][:LAST_LINE_CHARS]}" if lines else ""
