"""env.py: collectors never raise, versions are the installed ones, throttling is read from evidence
and lands on the cell as a flag."""

from __future__ import annotations

import json
from importlib import metadata

import psutil
import pytest

from ghostbench.bench.measure import CellState, result_row
from ghostbench.core.cell import Cell
from ghostbench.core.window import HarnessConfig
from ghostbench.worker import env


def test_snapshot_is_json_with_every_section() -> None:
    snap = env.snapshot()
    assert set(snap) == {"host", "cpu", "gpu", "versions", "torch", "taken_at"}
    json.dumps(snap, allow_nan=False)
    assert snap["versions"]["onnxruntime"] == metadata.version("onnxruntime")
    assert snap["versions"]["torch"] == metadata.version("torch")
    assert snap["versions"]["tensorrt"] == (
        metadata.version("tensorrt") if _has("tensorrt") else "not installed"
    )
    assert snap["cpu"]["logical_cores"] == psutil.cpu_count()
    assert snap["cpu"]["model"] == env.cpu_model() != ""


def _has(dist: str) -> bool:
    try:
        metadata.version(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


def test_a_failing_collector_reports_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("no cpufreq here")

    monkeypatch.setattr(psutil, "cpu_freq", broken)
    assert env.cpu()["freq"] == {"unavailable": "RuntimeError: no cpufreq here"}
    assert env.probe("cpu")["cpu_freq"] == {"unavailable": "RuntimeError: no cpufreq here"}


def test_probe_has_the_fast_changing_state() -> None:
    probe = env.probe("cpu")
    assert set(probe) == {"time", "load_avg", "cpu_freq", "temperatures_c", "cpu_throttle_count"}
    assert len(probe["load_avg"]) == 3
    assert "gpu" in env.probe("cuda")  # a value or the reason there is none


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({"cpu_throttle_count": 5}, {"cpu_throttle_count": 5}, []),
        ({"cpu_throttle_count": 5}, {"cpu_throttle_count": 9}, ["cpu thermal throttle events +4"]),
        ({"cpu_throttle_count": {"unavailable": "VM"}}, {"cpu_throttle_count": 3}, []),
        ({}, {"gpu": {"throttle_reasons": 0x1}}, []),  # idle is not throttling
        ({}, {"gpu": {"throttle_reasons": 0x1 | 0x40 | 0x4}}, ["gpu hw_thermal", "gpu sw_power_cap"]),
        ({}, {"gpu": {"unavailable": "no pynvml"}}, []),
        # Raspberry Pi firmware (vcgencmd get_throttled, as the board's worker records it).
        ({"vcgencmd": {"throttled_flags": []}}, {"vcgencmd": {"throttled_flags": []}}, []),
        ({}, {"vcgencmd": {"throttled_flags": ["throttled", "throttled_occurred"]}}, ["pi throttled"]),
        (
            {"vcgencmd": {"throttled_flags": []}},
            {"vcgencmd": {"throttled_flags": ["soft_temp_limit_occurred"]}},
            ["pi soft_temp_limit during the window"],
        ),
        # A sticky bit from before the window (e.g. an under-voltage at boot) says nothing about it.
        (
            {"vcgencmd": {"throttled_flags": ["under_voltage_occurred"]}},
            {"vcgencmd": {"throttled_flags": ["under_voltage_occurred"]}},
            [],
        ),
        ({"vcgencmd": {"unavailable": "no vcgencmd"}}, {"vcgencmd": {"unavailable": "no vcgencmd"}}, []),
    ],
)
def test_throttle_reasons(before: dict, after: dict, expected: list[str]) -> None:
    assert env.throttle_reasons(before, after) == expected


def _answer(samples: list[int], after_count: int) -> dict:
    window = {
        "samples_ns": samples,
        "load_ns": 1,
        "first_ns": 2,
        "warmup_n": 10,
        "warmup_ns": 5,
        "settled": True,
        "stop": "converged",
        "timed_ns": 100,
        "halfwidth": 0.001,
    }
    return {
        "runtime": "x",
        "runtime_version": "1",
        "device_name": "cpu",
        "window": window,
        "env_before": {"cpu_throttle_count": 10},
        "env_after": {"cpu_throttle_count": after_count},
    }


def test_throttling_during_a_window_flags_the_cell() -> None:
    samples = [1_000_000 + (i % 3) for i in range(200)]
    calm = CellState(Cell("ghostnet_050", "null"), windows=[_answer(samples, 10), _answer(samples, 10)])
    hot = CellState(Cell("ghostnet_050", "null"), windows=[_answer(samples, 10), _answer(samples, 12)])
    assert result_row(calm, "run", HarnessConfig())["flags"] == ""
    assert result_row(hot, "run", HarnessConfig())["flags"] == "throttled"
