"""Rich consoles that keep drawing while converter output is captured.

While an artifact is built, ``sys.stdout``/``sys.stderr`` and descriptors 1 and 2 point at the
artifact's log (``ghostbench.exporters.capture``). A console created here writes to its own
duplicate of the terminal's descriptor, so a progress bar drawn during an export stays on the
terminal instead of ending up in the log.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any, TextIO

from rich.console import Console


def _own_stream(stream: TextIO) -> TextIO:
    """A line-buffered stream on a duplicate of ``stream``'s descriptor (``stream`` itself when it
    has none, e.g. under a test's capture)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return stream
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return os.fdopen(os.dup(fd), "w", buffering=1, encoding=encoding, errors="replace")


def terminal(*, stderr: bool = False, **kwargs: Any) -> Console:
    """A :class:`rich.console.Console` on the current stdout (or stderr) that survives captures."""
    return Console(file=_own_stream(sys.stderr if stderr else sys.stdout), **kwargs)
