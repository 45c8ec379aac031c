"""Two ghostbench processes at once, and a ghostbench killed or terminated mid-window, for real
(separate processes, real signals): runs never share a folder, a second writer of one folder is
refused, and SIGTERM leaves an ``interrupted`` run with no worker left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

# A window that hangs until it is killed: the null backend's injected fault.
HANG = ["--models", "ghostnet_050", "--backends", "null", "--option", "fault=hang", "--rounds", "1"]


def _ghostbench(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ghostbench", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _workers_of(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p for p in children if "ghostbench.worker.process" in " ".join(_cmdline(p))]


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def _wait_for_worker(proc: subprocess.Popen, timeout_s: float = 120) -> psutil.Process:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        workers = _workers_of(proc.pid)
        if workers:
            return workers[0]
        time.sleep(0.1)
    raise AssertionError("no worker started")


def _ended(proc: psutil.Process, timeout_s: float) -> bool:
    """Whether ``proc`` is gone (or a zombie: dead, not yet reaped by whoever adopted it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path: Path) -> None:
    script = (
        "import sys\nfrom ghostbench.bench.store import create_run_dir\n"
        f"print(create_run_dir({str(tmp_path)!r}, '20261207T000000Z-host'))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(4)
    ]
    made = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(made)) == 4
    assert sorted(Path(m).name for m in made) == [
        "20261207T000000Z-host",
        "20261207T000000Z-host-2",
        "20261207T000000Z-host-3",
        "20261207T000000Z-host-4",
    ]


def test_a_second_writer_of_one_results_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = _ghostbench(["run", *HANG, "--out", str(out)], tmp_path)
    try:
        _wait_for_worker(first)
        second = _ghostbench(["run", *HANG, "--out", str(out)], tmp_path)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2
        lines = err.strip().splitlines()
        assert lines == [
            f"ERROR: another ghostbench process (pid {first.pid}) is writing the results folder {out}"
        ]
    finally:
        first.kill()
        first.communicate()


def test_sigterm_marks_the_run_interrupted_and_ends_its_worker(tmp_path: Path) -> None:
    proc = _ghostbench(["bench", *HANG, "--out-dir", str(tmp_path / "results"), "--no-report"], tmp_path)
    worker = _wait_for_worker(proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert err.strip().splitlines()[-1] == "interrupted by SIGTERM"
    assert "ghostbench bench --resume" in out + err
    (run_json,) = (tmp_path / "results").glob("*/run.json")
    assert json.loads(run_json.read_text())["status"] == "interrupted"
    assert _ended(worker, 15)


def test_a_killed_ghostbench_leaves_no_worker(tmp_path: Path) -> None:
    proc = _ghostbench(["run", *HANG, "--out", str(tmp_path / "run")], tmp_path)
    worker = _wait_for_worker(proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    if not _ended(worker, 15):
        worker.kill()
        raise AssertionError("the worker outlived a SIGKILL-ed ghostbench")
