"""The machine-speed probe: every local run records it, and ``compare`` refuses (exit 2) to judge
runs of machines that ran it differently, unless told to judge anyway. The end-to-end test makes
the difference real: the second run, probe and cells alike, runs under a CPU quota (a cgroup;
root only, skipped elsewhere)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from comparedata import SynthCell, write_run

from ghostbench.bench import compare
from ghostbench.bench.compare.machine import machine_speed
from ghostbench.bench.store import RunStore
from ghostbench.commands.cli import main
from ghostbench.core.errors import GhostbenchError
from ghostbench.worker import speed


def _probe(compute: float, memory: float) -> dict:
    return {"time": "2026-12-07T00:00:00Z", "cpu": 1, "compute_s": compute, "memory_s": memory}


def _run(start: dict | None, end: dict | None = None) -> dict:
    return {} if start is None else {"speed_probe": {"start": start, "end": end or start}}


def test_the_probe_times_fixed_work_on_one_pinned_cpu() -> None:
    found = speed.measure()
    assert found["compute_s"] > 0 and found["memory_s"] > 0
    assert found["cpu"] in os.sched_getaffinity(0)


def test_the_same_speed_is_comparable_and_a_slower_machine_is_not() -> None:
    base = _run(_probe(0.14, 0.13), _probe(0.145, 0.135))
    same = machine_speed(base, _run(_probe(0.143, 0.14)), threshold=0.05, run_sigma=0.045)
    assert not same.differ and same.margin == pytest.approx(2.5 * 2**0.5 * 0.045)
    slow = machine_speed(base, _run(_probe(0.28, 0.27)), threshold=0.05, run_sigma=0.045)
    assert slow.differ and "at another speed than the baseline's: compute 96.5% slower" in slow.describe()
    fast = machine_speed(base, _run(_probe(0.07, 0.13)), threshold=0.05, run_sigma=0.0)
    assert fast.differ and "compute 50.9% faster" in fast.describe()


def test_a_run_whose_own_probe_moves_widens_the_margin() -> None:
    noisy = _run(_probe(0.10, 0.10), _probe(0.12, 0.12))  # 20 % between its start and end
    verdict = machine_speed(noisy, _run(_probe(0.14, 0.14)), threshold=0.05, run_sigma=0.0)
    assert verdict.margin == pytest.approx(0.5) and not verdict.differ


def test_a_run_without_a_probe_is_compared_as_before() -> None:
    verdict = machine_speed(_run(None), _run(_probe(0.2, 0.2)), threshold=0.05, run_sigma=0.045)
    assert not verdict.differ and "baseline has no machine-speed probe" in verdict.describe()
    broken = {"speed_probe": {"start": {"unavailable": "TimeoutExpired"}}}
    assert machine_speed(broken, _run(_probe(0.2, 0.2)), threshold=0.05, run_sigma=0.0).missing


def _with_probe(path: Path, probe: dict) -> Path:
    store = RunStore(path)
    run = store.read_run_json()
    run["speed_probe"] = {"start": probe, "end": probe}
    store.write_run_json(run)
    return path


def test_compare_says_how_the_machine_differs_and_exits_2_unless_judging_anyway(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cells = [SynthCell("ghostnet_050"), SynthCell("ghostnet_100", median_ms=8.0)]
    base = _with_probe(write_run(tmp_path / "base", cells, seed=1), _probe(0.14, 0.13))
    new = _with_probe(write_run(tmp_path / "new", cells, seed=2), _probe(0.30, 0.27))
    with pytest.raises(GhostbenchError, match=r"not comparable: this machine ran the reference workload at"):
        compare.compare_runs(base, new)
    assert main(["compare", str(base), str(new)]) == 2
    err = capsys.readouterr().err
    assert "compute 114.3% slower, memory 107.7% slower" in err and len(err.strip().splitlines()) == 1
    judged = compare.compare_runs(base, new, judge_anyway=True)
    assert any("(judged anyway)" in note for note in judged.notes)
    assert main(["compare", str(base), str(new), "--judge-anyway"]) in (0, 1)


@contextlib.contextmanager
def cpu_quota(fraction: float) -> Iterator[Path]:
    """A cgroup whose processes get ``fraction`` of one CPU (v1 or v2); skips when none can be made."""
    name = f"ghostbench-test-{uuid.uuid4().hex[:8]}"
    v1, v2 = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup")
    period = 100_000
    if (v1 / "cpu.cfs_quota_us").exists():
        group = v1 / name
        settings = {"cpu.cfs_period_us": str(period), "cpu.cfs_quota_us": str(int(period * fraction))}
    elif (v2 / "cgroup.controllers").exists() and "cpu" in (v2 / "cgroup.controllers").read_text():
        group = v2 / name
        settings = {"cpu.max": f"{int(period * fraction)} {period}"}
    else:
        pytest.skip("no cgroup cpu controller here")
    try:
        group.mkdir()
        for key, value in settings.items():
            (group / key).write_text(value)
    except OSError as exc:
        pytest.skip(f"cannot make a CPU-quota cgroup here (needs root): {exc}")
    try:
        yield group
    finally:
        with contextlib.suppress(OSError):
            group.rmdir()


@pytest.mark.slow
def test_a_run_on_a_quota_limited_machine_is_not_comparable(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install 'ghostbench[onnx]')")
    env = {**os.environ, "GHOSTBENCH_CACHE_DIR": str(tmp_path / "cache")}

    def run(out: Path, group: Path | None = None) -> None:
        argv = [sys.executable, "-m", "ghostbench", "run", "--models", "ghostnet_050",
                "--backends", "onnxruntime", "--rounds", "2", "--time-cap", "0.5", "--min-time", "0.2",
                "--out", str(out)]  # fmt: skip

        def join() -> None:
            if group is not None:
                (group / "cgroup.procs").write_text(str(os.getpid()))

        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, preexec_fn=join)
        assert done.returncode == 0, done.stderr[-2000:]

    base, new = tmp_path / "base", tmp_path / "new"
    run(base)
    with cpu_quota(0.4) as group:
        run(new, group)
    probe = RunStore(new).read_run_json()["speed_probe"]
    assert set(probe) == {"start", "end"}
    assert main(["compare", str(base), str(new)]) == 2
    err = capsys.readouterr().err
    assert "not comparable: this machine ran the reference workload" in err and "slower" in err
