"""Parsing what the remote tools print: TFLite's benchmark_model (the variations its builds print,
and garbage), Raspberry Pi's vcgencmd, adb's device list and cpufreq/thermal files; and the row
figures pooled from windows that report statistics instead of samples."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ghostbench.core import stats
from ghostbench.core.errors import GhostbenchError
from ghostbench.worker.remote import adb, parse
from ghostbench.worker.remote.board import parse_vcgencmd

SAMPLES = Path(__file__).parent / "data" / "benchmark_model"


def _parse(name: str) -> parse.BenchmarkOutput:
    return parse.parse_output((SAMPLES / name).read_text())


def test_litert_output_with_info_prefix_and_percentiles() -> None:
    out = _parse("litert_percentiles.txt")
    assert out.init_us == 41518 and out.first_us == 11873
    assert out.warmup.count == 72 and out.warmup.avg_us == 6958.75
    assert out.timed == parse.RunStats(
        count=146,
        first_us=6893,
        curr_us=6870,
        min_us=6781,
        max_us=7411,
        avg_us=6874.33,
        std_us=91,
        p5_us=6793,
        median_us=6851,
        p95_us=7063,
    )
    assert out.timed_min_runs == 50
    window = parse.window(out, settle_tolerance=0.05)
    assert window == {
        "samples_ns": [],
        "load_ns": 41_518_000,
        "first_ns": 11_873_000,
        "warmup_n": 72,
        "warmup_ns": 501_030_000,
        "settled": True,  # warm-up without its cold first run: 6889.5 us vs 6874.33 us timed
        "stop": "minimums",
        "timed_ns": round(6874.33 * 146 * 1000),
        "halfwidth": None,
    }


def test_older_builds_without_prefix_or_percentiles() -> None:
    out = _parse("tf_no_percentiles.txt")
    assert (out.timed.count, out.timed.avg_us, out.timed.median_us, out.timed.p95_us) == (
        54,
        18861.2,
        None,
        None,
    )
    assert out.init_us == 38227 and out.first_us == 23114


def test_tensorflow_1_average_timings_line_and_all_same_warmup() -> None:
    out = _parse("tf1_average_timings.txt")
    assert out.init_us == 38467  # "Average inference timings in us: Warmup: ..., Init: ..."
    assert out.warmup == parse.RunStats(1, 83235, 83235, 83235, 83235, 83235, 0)
    assert out.first_us == 83235  # no "First inference": the single warm-up run
    assert out.timed.count == 50 and out.timed.std_us == 1929 and out.timed_min_runs == 50
    assert parse.window(out, 0.05)["settled"] is False  # one warm-up run shows no settling


def test_scientific_notation_for_runs_over_a_second() -> None:
    out = _parse("slow_scientific.txt")
    assert out.timed.avg_us == pytest.approx(2.36861e6)
    assert out.init_us == 1204377 and out.first_us == 2417765
    assert out.warmup.count == 1 and out.warmup.median_us == 2417765


def test_logcat_prefix_and_all_same_marker() -> None:
    out = _parse("all_same_logcat.txt")
    assert out.warmup.count == 2 and out.warmup.std_us == 0 and out.warmup.min_us == 3000
    assert out.timed.median_us == 2995 and out.init_us == 12500


def test_time_cap_when_the_tool_stopped_before_its_run_count() -> None:
    text = (SAMPLES / "litert_percentiles.txt").read_text().replace("count=146", "count=31")
    assert parse.window(parse.parse_output(text), 0.05)["stop"] == "time_cap"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("failed_mmap.txt", "no warm-up or timed run.*Failed to mmap model"),
        ("garbage.txt", "unreadable statistics line 'count=fifty"),
    ],
)
def test_failures_and_garbage_are_clear_errors(name: str, message: str) -> None:
    with pytest.raises(parse.BenchmarkOutputError, match=message):
        _parse(name)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no warm-up or timed run"),
        (
            "Running benchmark for at least 1 iterations\nINFO: count=3 curr=9 min=1 max=9 avg=5 std=2\n",
            "lacks first",
        ),
        ("Running benchmark for at least 1 iterations\ncount=0\n", "ran no timed iterations"),
        (
            "Running benchmark for at least 1 iterations\ncount=2 first=1 curr=1 min=5 max=9 avg=20 std=1\n",
            "avg outside",
        ),
        (
            "Running benchmark for at least 1 iterations\ncount=2 curr=4(all same)\n"
            "Running benchmark for at least 5 iterations\n",
            "a warm-up but no timed run",
        ),
    ],
)
def test_malformed_statistics_are_rejected(text: str, message: str) -> None:
    with pytest.raises(parse.BenchmarkOutputError, match=message):
        parse.parse_output(text)


def test_missing_init_time_is_rejected() -> None:
    text = "\n".join(
        line for line in (SAMPLES / "litert_percentiles.txt").read_text().splitlines() if "Init" not in line
    )
    with pytest.raises(parse.BenchmarkOutputError, match="no init time"):
        parse.parse_output(text)


def test_summarize_reported_pools_windows_exactly() -> None:
    one = parse.reported(_parse("litert_percentiles.txt"))
    summary = stats.summarize_reported([one])
    assert summary.n == 146 and summary.windows == 1
    assert summary.median_ns == 6_851_000 and summary.mean_ns == pytest.approx(6_874_330)
    assert summary.std_ns == pytest.approx(91_000 * math.sqrt(146 / 145))  # population -> ddof 1
    assert (summary.min_ns, summary.max_ns) == (6_781_000, 7_411_000)
    assert math.isnan(summary.p90_ns) and math.isnan(summary.ci_low_ns) and summary.flags == ()

    slow = {**one, "count": 54, "avg_ns": 7_874_330.0, "median_ns": 7_851_000.0, "max_ns": 9_000_000.0}
    pooled = stats.summarize_reported([one, slow])
    assert pooled.n == 200
    assert pooled.mean_ns == pytest.approx((146 * 6_874_330 + 54 * 7_874_330) / 200)
    x2 = (146 * (91_000**2 + 6_874_330**2) + 54 * (91_000**2 + 7_874_330**2)) / 200
    assert pooled.std_ns == pytest.approx(math.sqrt((x2 - pooled.mean_ns**2) * 200 / 199))
    assert pooled.median_ns == pytest.approx((6_851_000 + 7_851_000) / 2)  # median of window medians
    assert pooled.window_spread == pytest.approx(1_000_000 / pooled.median_ns)
    assert pooled.max_ns == 9_000_000


def test_summarize_reported_without_percentiles_has_no_median() -> None:
    summary = stats.summarize_reported([parse.reported(_parse("tf_no_percentiles.txt"))])
    assert math.isnan(summary.median_ns) and math.isnan(summary.window_spread)
    assert summary.mean_ns == pytest.approx(18_861_200)


def test_vcgencmd_readings() -> None:
    assert parse_vcgencmd("temp=47.2'C\n", "throttled=0x50005\n") == {
        "temp_c": 47.2,
        "throttled": "0x50005",
        "throttled_flags": ["under_voltage", "throttled", "under_voltage_occurred", "throttled_occurred"],
    }
    assert parse_vcgencmd("", "") == {"temp_c": None}


def test_adb_device_selection() -> None:
    listing = (
        "* daemon started successfully\nList of devices attached\nR5CT\tdevice\nemulator-5554\toffline\n\n"
    )
    assert adb.select_device(listing, None) == "R5CT"
    assert adb.select_device(listing, "R5CT") == "R5CT"
    with pytest.raises(GhostbenchError, match="emulator-5554 is offline"):
        adb.select_device(listing, "emulator-5554")
    with pytest.raises(GhostbenchError, match="no device 'X1' is attached; adb devices lists R5CT"):
        adb.select_device(listing, "X1")
    with pytest.raises(GhostbenchError, match="unauthorized: accept the USB debugging prompt"):
        adb.select_device("List of devices attached\nR5CT\tunauthorized\n", None)
    with pytest.raises(GhostbenchError, match="SERIAL=<serial>: adb devices lists A \\(device\\), B"):
        adb.select_device("List of devices attached\nA\tdevice\nB\tdevice\n", None)
    with pytest.raises(GhostbenchError, match=r"no Android device is attached.*SERIAL="):
        adb.select_device("List of devices attached\n\n", None)


def test_fastest_cores_and_masks() -> None:
    freqs = "".join(
        f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/cpuinfo_max_freq:{khz}\n"
        for cpu, khz in enumerate([1_800_000] * 4 + [2_350_000] * 2 + [2_850_000] * 2)
    )
    assert adb.fastest_cores(freqs, 1) == [6, 7]  # the prime cluster
    assert adb.fastest_cores(freqs, 4) == [4, 5, 6, 7]
    assert adb.fastest_cores(freqs, 16) == list(range(8))
    assert adb.fastest_cores("", 4) == []
    assert adb.cpu_mask([6, 7]) == "c0" and adb.cpu_mask([4, 5, 6, 7]) == "f0" and adb.cpu_mask([0]) == "1"


def test_thermal_zones_in_celsius() -> None:
    text = "thermal_zone0 cpu-0-0-usr 41000\nthermal_zone1 battery 30500\nthermal_zone2 tsens\n"
    assert adb.parse_thermal(text) == {"thermal_zone0:cpu-0-0-usr": 41.0, "thermal_zone1:battery": 30.5}
