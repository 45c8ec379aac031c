"""Converter output goes to the artifact's log, not the user's terminal.

Converters and runtimes talk while an artifact is built and checked: litert-torch prints its
conversion steps, TensorFlow's C++ core and XNNPACK log to stderr, torch.onnx warns. Between a
run's progress bars that is noise; next to the artifact it is a record. So while an artifact is
built and its parity run, file descriptors 1 and 2 (where C and C++ code write) and ``sys.stdout``
and ``sys.stderr`` (where Python code writes) go to ``export.log`` in the artifact's cache entry.
Progress displays that must stay on the terminal write through :func:`ghostbench.bench.console.terminal`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from pathlib import Path

LOG_NAME = "export.log"


def _flush_all() -> None:
    """Flush Python's streams and C stdio's buffers, so nothing written before (or during) the
    capture lands on the wrong side of the switch."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def converter_output(log_path: Path) -> Iterator[Path]:
    """Send everything written to stdout and stderr inside the block to ``log_path`` (appended)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    _flush_all()
    with open(log_path, "a", encoding="utf-8", errors="replace", buffering=1) as log:
        saved = {fd: os.dup(fd) for fd in (1, 2)}
        streams = sys.stdout, sys.stderr
        try:
            for fd in saved:
                os.dup2(log.fileno(), fd)
            sys.stdout = sys.stderr = log
            yield log_path
        finally:
            _flush_all()
            sys.stdout, sys.stderr = streams
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
