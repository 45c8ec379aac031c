"""CUDA windows in a backend's long-lived session worker keep the isolation promise: every fault
costs one error row and ends the worker it ran in, the next window gets a new one, and healthy
windows share one. There is no GPU here, so the CPU tests route null-runner and torch CPU cells
through sessions (``session_devices``); the ``gpu`` tests run the real CUDA path on a GPU machine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
import torch
from windowdata import FAULTS, QUICK, TIMEOUT_S, measure_every_fault, null_cell

from ghostbench.bench.measure import MeasureOptions
from ghostbench.core import window
from ghostbench.core.cell import Cell
from ghostbench.worker import session
from ghostbench.worker.pool import Pool

needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs an NVIDIA GPU with CUDA (none on this machine)"
)


def _cpu_sessions() -> Pool:
    """A pool that runs CPU cells in session workers, as it runs CUDA cells on a GPU machine."""
    return Pool(enabled=False, sessions=True, session_devices=("cpu",))


def _payload(cell: Cell) -> dict:
    return window.request(cell, None, QUICK.to_dict(), seed=0, window=0)


def test_only_cuda_cells_go_to_a_session_one_worker_per_backend() -> None:
    assert session.key_for({"device": "cuda", "backend": "torch"}) == ("cuda", "torch")
    assert session.key_for({"device": "cuda", "backend": "torch_compile"}) == ("cuda", "torch_compile")
    assert session.key_for({"device": "cpu", "backend": "torch"}) is None
    assert session.key_for({"device": "pi", "backend": "tflite"}) is None


def test_every_fault_is_one_error_row_and_ends_its_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    real = session.SessionWorker.__init__

    def counting(self: session.SessionWorker, **kwargs: object) -> None:
        real(self, **kwargs)
        started.append(self.pid)

    monkeypatch.setattr(session.SessionWorker, "__init__", counting)
    with _cpu_sessions() as pool:
        rows = measure_every_fault(pool.spawn)
        survivor = pool._workers[("cpu", "null")]
        assert survivor.windows == 2  # the healthy cell's two windows, in one worker
        alive = survivor.pid
    assert "Traceback" in rows[0]["error"]  # the raising window's own stderr tail
    # Each fault ended the worker it ran in: one worker per faulty window, then the survivor's.
    assert len(started) == len(FAULTS) + 1
    assert not psutil.pid_exists(alive) or psutil.Process(alive).status() == psutil.STATUS_ZOMBIE


def test_a_worker_that_died_between_windows_costs_no_window() -> None:
    with _cpu_sessions() as pool:
        assert pool.spawn(_payload(null_cell()), timeout_s=TIMEOUT_S).ok
        first = pool._workers[("cpu", "null")]
        os.kill(first.pid, signal.SIGKILL)
        first._proc.wait()
        outcome = pool.spawn(_payload(null_cell()), timeout_s=TIMEOUT_S)
        assert outcome.ok, outcome.error
        assert pool._workers[("cpu", "null")].pid != first.pid


def test_torch_windows_in_one_session_rebuild_the_model_but_not_the_process() -> None:
    """What a session saves: the second window of a torch cell loads no torch, only the model."""
    with _cpu_sessions() as pool:
        cell = Cell("ghostnet_050", "torch")
        first = pool.spawn(_payload(cell), timeout_s=TIMEOUT_S)
        second = pool.spawn(_payload(Cell("mobilenetv3_small_100", "torch")), timeout_s=TIMEOUT_S)
        assert first.ok and second.ok, first.error or second.error
        assert pool._workers[("cpu", "torch")].windows == 2
        for outcome in (first, second):
            w = outcome.result["window"]
            assert outcome.result["runtime"] == "torch" and w["samples_ns"] and w["load_ns"] > 0
        # The worker's first window imported torch; the second only built its model.
        assert second.wall_s < first.wall_s


def test_a_killed_parent_takes_its_session_worker_with_it(tmp_path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from ghostbench.worker import session
        worker = session.SessionWorker()
        print(worker.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        assert psutil.pid_exists(pid)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the session worker outlived its parent"
            time.sleep(0.05)
    finally:
        parent.kill()


def test_the_worker_protocol_is_one_json_line_each_way() -> None:
    requests = [
        {"payload": _payload(null_cell()), "deadline_s": 60},
        {"payload": _payload(null_cell("raise")), "deadline_s": 60},
        {"payload": _payload(null_cell()), "deadline_s": 60},  # never read: the worker ended
    ]
    done = subprocess.run(
        [sys.executable, "-m", "ghostbench.worker.session"],
        input="".join(json.dumps(r) + "\n" for r in requests),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["status"] for a in answers] == ["ok", "error"]
    assert done.returncode == 1  # it ends after the first failed window
    assert "InjectedFault" in done.stderr


def test_measure_options_record_the_session_and_the_order() -> None:
    options = MeasureOptions(rounds=2, interleave="group")
    again = MeasureOptions.from_dict(options.to_dict())
    assert again.cuda_session and again.interleave == "group"
    old = MeasureOptions.from_dict({"rounds": 3, "timeout_s": 60.0})  # a run.json from before
    assert not old.cuda_session and old.interleave == "run"


@needs_cuda
@pytest.mark.gpu
def test_cuda_windows_share_one_worker_per_backend() -> None:
    with Pool(sessions=True) as pool:
        for backend, precision in [("torch", "fp32"), ("torch", "fp16"), ("torch_cudagraph", "fp16")] * 2:
            cell = Cell("ghostnet_050", backend, device="cuda", precision=precision)
            outcome = pool.spawn(_payload(cell), timeout_s=TIMEOUT_S)
            assert outcome.ok, outcome.error
            assert outcome.result["env_after"]["gpu"]["sm_clock_mhz"] > 0  # NVML probed the GPU
        assert {k: w.windows for k, w in pool._workers.items()} == {
            ("cuda", "torch"): 4,
            ("cuda", "torch_cudagraph"): 2,
        }


@needs_cuda
@pytest.mark.gpu
def test_torch_compile_windows_in_one_worker_stay_compiled() -> None:
    """Nine windows of one model class in one worker: past dynamo's recompile limit of 8 without
    the reset in ``TorchCompileRunner.close``, a later window would silently run eager."""
    with Pool(sessions=True) as pool:
        eager = pool.spawn(
            _payload(Cell("ghostnet_050", "torch", device="cuda", precision="fp16")), timeout_s=300
        )
        assert eager.ok, eager.error
        firsts = []
        for _ in range(9):
            cell = Cell("ghostnet_050", "torch_compile", device="cuda", precision="fp16")
            outcome = pool.spawn(_payload(cell), timeout_s=300)
            assert outcome.ok, outcome.error
            firsts.append(outcome.result["window"]["first_ns"])
        assert pool._workers[("cuda", "torch_compile")].windows == 9
    # Every window traced and compiled in its first call (inductor's caches make it quicker after
    # the first, never as quick as an eager first call).
    assert min(firsts) > 5 * eager.result["window"]["first_ns"]


def test_torch_compile_forgets_its_compiled_frames_when_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reset that keeps a session worker's later compile windows compiled (see the gpu test
    above); compiling here would take minutes, so this checks the call on close."""
    import torch._dynamo

    from ghostbench.runners.torch_runner import TorchCompileRunner

    resets: list[bool] = []
    monkeypatch.setattr(torch._dynamo, "reset", lambda: resets.append(True))
    runner = TorchCompileRunner()
    runner._mode = "default"
    runner.close()
    assert resets == [True] and not runner.__dict__
