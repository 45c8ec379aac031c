"""Whole-file writes (``ghostbench/atomic.py``): all or nothing, shareable, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghostbench.core import atomic
from ghostbench.core.errors import GhostbenchError


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    target.write_text("old")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(GhostbenchError, match=f"cannot write {target}: No space left on device"):
        atomic.write(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_ctrl_c_during_a_write_leaves_no_temporary(tmp_path: Path) -> None:
    def interrupted(tmp: Path) -> None:
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.write(tmp_path / "x.json", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_a_directory_in_the_way_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(GhostbenchError, match=r"cannot write .*out: Is a directory"):
        atomic.write_text(tmp_path / "out", "text")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_files_are_readable_by_other_tools_and_folders_are_made(tmp_path: Path) -> None:
    path = atomic.write_bytes(tmp_path / "a" / "b.bin", b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert path.stat().st_mode & 0o777 == atomic.FILE_MODE
