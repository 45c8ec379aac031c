"""Worker isolation: a window that raises, segfaults or hangs becomes an error row with the reason,
and the run goes on. The faults are real (an exception, a read of address 0, a blocked wait),
injected by the null backend's ``fault`` option, and run through the real worker and parent code.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from windowdata import HANG_TIMEOUT_S, QUICK, TIMEOUT_S, null_cell

from ghostbench.bench.measure import MeasureOptions, measure, overhead_ns
from ghostbench.bench.store import RunStore, load_run
from ghostbench.core import window
from ghostbench.core.errors import GhostbenchError
from ghostbench.worker import process as worker


@pytest.mark.parametrize("fork_server", [True, False], ids=["forked", "fresh"])
def test_raise_and_segfault_become_error_rows_and_the_run_goes_on(tmp_path: Path, fork_server: bool) -> None:
    cells = [null_cell("raise"), null_cell("segfault"), null_cell()]
    store = RunStore(tmp_path / "run")
    store.write_run_json({"status": "running"})
    finished: list[str] = []
    rows = measure(
        cells,
        run_id="run",
        options=MeasureOptions(rounds=2, harness=QUICK, timeout_s=TIMEOUT_S, fork_server=fork_server),
        store=store,
        on_cell_done=lambda row: finished.append(row["cell"]),
    )
    raised, segfault, healthy = rows
    assert [r["status"] for r in rows] == ["error", "error", "ok"]

    assert raised["error"].startswith("InjectedFault: injected fault")
    assert "Traceback" in raised["error"]  # the stderr tail follows the reason

    assert segfault["error"].startswith("worker died from SIGSEGV")
    assert "Segmentation fault" in segfault["error"]  # faulthandler's report, in the stderr tail
    assert "run_once" in segfault["error"]  # ...which says where it crashed

    assert healthy["windows"] == 2 and healthy["n"] > 0 and healthy["error"] == ""
    # Failed cells finish in round 1 and are not measured again; the healthy one after round 2.
    assert finished == [c.key for c in cells]

    run, latency, samples = load_run(tmp_path / "run")
    assert latency["cell"].tolist() == [c.key for c in cells]
    assert set(samples["cell"]) == {healthy["cell"]}
    assert store.done_cells() == {healthy["cell"]}
    assert len(run["cells"][healthy["cell"]]["windows"]) == 2


@pytest.mark.parametrize("fork_server", [True, False], ids=["forked", "fresh"])
def test_a_hung_worker_is_killed_and_the_run_goes_on(fork_server: bool) -> None:
    rows = measure(
        [null_cell("hang"), null_cell()],
        run_id="run",
        options=MeasureOptions(rounds=1, harness=QUICK, timeout_s=HANG_TIMEOUT_S, fork_server=fork_server),
    )
    hang, after = rows
    assert hang["status"] == "error"
    assert hang["error"].startswith(f"worker timed out after {HANG_TIMEOUT_S:g} s and was killed")
    assert hang["duration_s"] >= HANG_TIMEOUT_S
    assert after["status"] == "ok"


def test_overhead_floor_is_positive_and_small() -> None:
    floor = overhead_ns()
    assert 0 < floor < 100_000  # two clock reads; far under 0.1 ms on any machine


def _spawn_with(tmp_path: Path, script: str) -> window.WindowOutcome:
    """Run ``script`` in place of the worker module, through the real ``spawn``."""
    fake = tmp_path / "fake_python"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} -c {json.dumps(script)}\n")
    fake.chmod(0o755)
    payload = window.request(null_cell(), None, QUICK.to_dict(), seed=0, window=0)
    return worker.spawn(payload, timeout_s=TIMEOUT_S, python=str(fake))


def test_a_killed_worker_is_reported_by_signal(tmp_path: Path) -> None:
    outcome = _spawn_with(
        tmp_path, f"import os, sys; print('dying', file=sys.stderr); os.kill(os.getpid(), {signal.SIGKILL})"
    )
    assert not outcome.ok
    assert outcome.error.startswith("worker died from SIGKILL (out of memory?)")
    assert outcome.error.endswith("dying")


def test_a_worker_without_an_answer_is_an_error(tmp_path: Path) -> None:
    outcome = _spawn_with(tmp_path, "import sys; sys.stdin.read(); print('not json'); sys.exit(3)")
    assert not outcome.ok
    assert outcome.error == "worker exited with code 3 and no result"


def test_an_answer_is_read_from_stdout(tmp_path: Path) -> None:
    outcome = _spawn_with(
        tmp_path, "import json, sys; sys.stdin.read(); print(json.dumps({'status': 'ok', 'x': 1}))"
    )
    assert outcome.ok and outcome.result == {"status": "ok", "x": 1}


def test_worker_answers_on_a_clean_stdout(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    import io

    real_measure = worker.measure_payload

    def chatty(payload: dict) -> dict:
        print("a library printing to stdout")
        return real_measure(payload)

    monkeypatch.setattr(worker, "measure_payload", chatty)
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # main() rebinds it; restore after the test
    payload = window.request(null_cell(), None, QUICK.to_dict(), seed=0, window=0)
    code = worker.main(io.StringIO(json.dumps(payload)))
    captured = capfd.readouterr()
    answer = json.loads(captured.out)  # only the answer is on stdout
    assert "a library printing to stdout" in captured.err
    assert code == 0 and answer["status"] == "ok"
    assert answer["runtime"] == "ghostbench" and answer["window"]["samples_ns"]
    assert set(answer["env_before"]) >= {"time", "load_avg", "cpu_freq"}


def test_stderr_tail_drops_faulthandler_module_list() -> None:
    crash = "Fatal Python error: Segmentation fault\n  File x.py, line 1 in run_once"
    assert worker.crash_tail(crash + "\nExtension modules: a, b, c\n") == crash


def test_repeated_cells_are_refused() -> None:
    with pytest.raises(GhostbenchError, match="cells repeat: ghostnet_050/null/cpu/fp32/t1"):
        measure([null_cell(), null_cell()], run_id="run")


def _hung_worker(env: dict[str, str]) -> subprocess.Popen:
    """The real worker module on a request whose window hangs (null backend, ``fault=hang``)."""
    payload = window.request(null_cell("hang"), None, QUICK.to_dict(), seed=0, window=0)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ghostbench.worker.process"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(payload).encode())
    proc.stdin.close()
    return proc


def test_a_hung_worker_ends_at_its_own_deadline_without_its_parent() -> None:
    proc = _hung_worker({worker.DEADLINE_ENV: "3"})
    assert proc.wait(timeout=60) == -signal.SIGALRM


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_worker_dies_with_its_parent(tmp_path: Path) -> None:
    """A parent killed with SIGKILL cannot kill its worker; the kernel does (PR_SET_PDEATHSIG)."""
    pid_file = tmp_path / "worker.pid"
    payload = window.request(null_cell("hang"), None, QUICK.to_dict(), seed=0, window=0)
    script = (
        "import json, os, subprocess, sys, time\n"
        f"env = {{**os.environ, {worker.PARENT_PID_ENV!r}: str(os.getpid())}}\n"
        "w = subprocess.Popen([sys.executable, '-m', 'ghostbench.worker.process'], stdin=subprocess.PIPE,"
        " stdout=subprocess.DEVNULL, env=env)\n"
        f"w.stdin.write({json.dumps(payload)!r}.encode()); w.stdin.close()\n"
        f"open({str(pid_file)!r}, 'w').write(str(w.pid))\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()):
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.1)
        child = int(pid_file.read_text())
        time.sleep(2)  # the worker is loading or already in its hung window
        assert _alive(child)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        parent.kill()
