import os
import subprocess
from pathlib import Path

import pytest

# Deterministic, single-threaded torch in tests: the suite runs beside other work on 2 cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def artifact_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export cache for every test that only reads exports: each real model is converted once
    per session (a TFLite conversion of GhostNet 0.5 took 23-31 s here), then a cache hit.
    A test that damages or counts cache entries makes its own."""
    return tmp_path_factory.getbasetemp() / "gb-artifact-cache"


def _mount_tmpfs(path: Path, options: str) -> None:
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs("ro,size=1m")``: a fresh filesystem with those mount options (root only; skips
    otherwise). Root ignores file modes, so a read-only or full folder needs a real mount."""
    mounts: list[Path] = []

    def make(options: str) -> Path:
        path = tmp_path / f"mnt{len(mounts)}"
        _mount_tmpfs(path, options)
        mounts.append(path)
        return path

    yield make
    for path in mounts:
        subprocess.run(["umount", str(path)], check=False)
