"""The self-contained worker copied to an ARM board: the ghostbench modules one window of an exported
model needs (worker, harness, statistics, machine probes, the LiteRT and ONNX Runtime runners, the
fixed-seed input) and no torch code, so the board needs only numpy, scipy and its runtimes.

The bundle is named by the digest of its files, so a board keeps one copy per ghostbench version and
a run after an upgrade uploads the new one instead of running stale code.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2]  # the ghostbench package folder
# Paths under ghostbench/ that the worker imports for the tflite, onnxruntime and null backends.
FILES: tuple[str, ...] = (
    "__init__.py",
    "errors.py",
    "bench/__init__.py",
    "bench/cell.py",
    "bench/env.py",
    "bench/harness.py",
    "bench/inputs.py",
    "bench/stats.py",
    "exporters/artifact.py",
    "exporters/parity.py",
    "runners/__init__.py",
    "runners/base.py",
    "runners/null_runner.py",
    "runners/onnxruntime_runner.py",
    "runners/tflite_runner.py",
    "runners/worker.py",
    "runners/remote/__init__.py",
    "runners/remote/board.py",
)
# The real exporters/__init__.py imports the exporter modules; the worker only needs the package.
EXPORTERS_INIT = b'"""Bundle stub: a board runs exported files and never exports (no torch there)."""\n'


def files() -> dict[str, bytes]:
    """Bundle-relative path -> content: the files of :data:`FILES` and the exporters stub."""
    content = {f"ghostbench/{rel}": (PACKAGE / rel).read_bytes() for rel in FILES}
    content["ghostbench/exporters/__init__.py"] = EXPORTERS_INIT
    return dict(sorted(content.items()))


def digest(content: dict[str, bytes]) -> str:
    """sha256 over names and contents: the bundle's identity on the board."""
    h = hashlib.sha256()
    for name, data in sorted(content.items()):
        h.update(name.encode() + b"\0" + data + b"\0")
    return h.hexdigest()


def tar(content: dict[str, bytes]) -> bytes:
    """An uncompressed tar of ``content`` with fixed metadata (same bundle, same bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in sorted(content.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write(content: dict[str, bytes], folder: Path) -> Path:
    """Write the bundle under ``folder`` (for running it locally, e.g. in tests); returns ``folder``."""
    for name, data in content.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder
