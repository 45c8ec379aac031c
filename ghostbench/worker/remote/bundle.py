"""The self-contained worker copied to an ARM board: the ground layer, the runners and the worker
folder, whole (``docs/architecture.md``: those three import nothing above them and no torch at
module level), so the board needs only numpy, scipy and its runtimes.

The bundle is named by the digest of its files, so a board keeps one copy per ghostbench version and
a run after an upgrade uploads the new one instead of running stale code.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2]  # the ghostbench package folder
# The folders under ghostbench/ a window needs; the import-graph test keeps them closed.
FOLDERS: tuple[str, ...] = ("core", "runners", "worker")


def files() -> dict[str, bytes]:
    """Bundle-relative path -> content: the package's ``__init__.py`` and every module of
    :data:`FOLDERS`."""
    paths = [PACKAGE / "__init__.py"]
    for folder in FOLDERS:
        paths += sorted(p for p in (PACKAGE / folder).rglob("*.py") if "__pycache__" not in p.parts)
    content = {f"ghostbench/{p.relative_to(PACKAGE).as_posix()}": p.read_bytes() for p in paths}
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
