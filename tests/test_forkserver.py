"""Windows forked from a warm server keep every isolation promise of a fresh worker: an exception,
a segfault, running out of memory, a SIGKILL and a hang each cost one error row; a server that dies
costs no window (it is run in a fresh worker); nothing outlives a killed parent. All real
processes, real faults (the null runner's), real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from windowdata import QUICK, TIMEOUT_S, measure_every_fault, null_cell

from ghostbench.bench.measure import MeasureOptions, measure
from ghostbench.core import window
from ghostbench.core.cell import Cell
from ghostbench.core.window import HarnessConfig
from ghostbench.worker import forkserver
from ghostbench.worker.pool import Pool

pytestmark = pytest.mark.skipif(not forkserver.supported(), reason="fork servers run on Linux only")


def _payload(cell: Cell, harness: HarnessConfig = QUICK) -> dict:
    return window.request(cell, None, harness.to_dict(), seed=0, window=0)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_every_fault_is_one_error_row_through_the_fork_server() -> None:
    # One pool for the whole run: every window below is forked from the same server.
    with Pool() as pool:
        measure_every_fault(pool.spawn)
        assert pool.fallbacks == 0 and len(pool._servers) == 1


def test_measure_forks_by_default_and_fresh_workers_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[str, ...]] = []
    real = forkserver.ForkServer.__init__

    def counting(self: forkserver.ForkServer, preload: tuple[str, ...], **kwargs: object) -> None:
        started.append(preload)
        real(self, preload, **kwargs)

    monkeypatch.setattr(forkserver.ForkServer, "__init__", counting)
    options = MeasureOptions(rounds=2, harness=QUICK, timeout_s=TIMEOUT_S)
    assert [
        r["status"] for r in measure([null_cell(), null_cell(threads=2)], run_id="a", options=options)
    ] == ["ok"] * 2
    assert len(started) == 2  # one server per thread count, each reused for both rounds
    started.clear()
    fresh = MeasureOptions(rounds=1, harness=QUICK, timeout_s=TIMEOUT_S, fork_server=False)
    assert measure([null_cell()], run_id="b", options=fresh)[0]["status"] == "ok"
    assert started == []


def test_a_forked_window_sees_the_cells_thread_count() -> None:
    """OpenMP reads OMP_NUM_THREADS when its library loads, which is in the server: a server per count."""
    with Pool() as pool:
        pool.spawn(_payload(null_cell(threads=2)), timeout_s=TIMEOUT_S)
        (server,) = pool._servers.values()
        assert psutil.Process(server.pid).environ()["OMP_NUM_THREADS"] == "2"


def test_cuda_and_unknown_cells_are_never_forked() -> None:
    assert forkserver.preload_for(null_cell(device="cuda").to_dict()) is None
    assert forkserver.preload_for({**null_cell().to_dict(), "backend": "nope"}) is None
    torch_preload = forkserver.preload_for(Cell("ghostnet_050", "torch").to_dict())
    assert torch_preload is not None and "torch" in torch_preload


def test_a_server_killed_mid_window_costs_no_window() -> None:
    """SIGKILL the server while its child is timing: the child dies with it (PR_SET_PDEATHSIG), the
    window is run again in a fresh worker, and the next window starts a new server."""
    slow = HarnessConfig(warmup_min_s=0.01, min_time_s=3.0, time_cap_s=3.0, target=1e-9)
    with Pool() as pool:
        assert pool.spawn(_payload(null_cell()), timeout_s=TIMEOUT_S).ok
        (first,) = pool._servers.values()
        children_before = {c.pid for c in psutil.Process(first.pid).children()}
        assert children_before == set()
        result: list[window.WindowOutcome] = []
        thread = threading.Thread(
            target=lambda: result.append(pool.spawn(_payload(null_cell(), slow), timeout_s=TIMEOUT_S))
        )
        thread.start()
        deadline = time.monotonic() + 30
        while not psutil.Process(first.pid).children() and time.monotonic() < deadline:
            time.sleep(0.02)
        (child,) = psutil.Process(first.pid).children()
        os.kill(first.pid, signal.SIGKILL)
        thread.join(timeout=60)
        assert _wait_gone(child.pid)
        assert result and result[0].ok, result[0].error if result else "no outcome"
        assert pool.fallbacks == 1 and pool._servers == {}
        assert pool.spawn(_payload(null_cell()), timeout_s=TIMEOUT_S).ok
        (second,) = pool._servers.values()
        assert second.pid != first.pid


def test_a_server_that_cannot_start_falls_back_to_fresh_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forkserver, "READY_TIMEOUT_S", 0.001)
    before = {c.pid for c in psutil.Process().children()}
    with Pool() as pool:
        outcome = pool.spawn(_payload(null_cell()), timeout_s=TIMEOUT_S)
        assert outcome.ok and pool.fallbacks == 1
        # the server that was too slow is ended at once, not left until the run ends
        assert [c for c in psutil.Process().children() if c.pid not in before and c.is_running()] == []


def test_nothing_outlives_a_killed_parent(tmp_path: Path) -> None:
    """SIGKILL the process that owns the pool during a hung window: server and child both end."""
    pids, request = tmp_path / "pids.json", tmp_path / "request.json"
    request.write_text(json.dumps(_payload(null_cell("hang"))))
    script = (
        "import json, threading, time, psutil\n"
        "from ghostbench.worker import forkserver\n"
        "from ghostbench.worker.pool import Pool\npool = Pool()\n"
        f"payload = json.loads(open({str(request)!r}).read())\n"
        "threading.Thread(target=lambda: pool.spawn(payload, timeout_s=600), daemon=True).start()\n"
        "while not pool._servers or not psutil.Process(next(iter(pool._servers.values())).pid).children():\n"
        "    time.sleep(0.05)\n"
        "server = next(iter(pool._servers.values())).pid\n"
        "child = psutil.Process(server).children()[0].pid\n"
        f"open({str(pids)!r}, 'w').write(json.dumps([server, child]))\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not (pids.exists() and pids.read_text()):
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.1)
        server, child = json.loads(pids.read_text())
        assert _alive(server) and _alive(child)
        parent.kill()
        parent.wait()
        assert _wait_gone(server) and _wait_gone(child)
    finally:
        parent.kill()
