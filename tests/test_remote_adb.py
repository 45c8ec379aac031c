"""The Android path (TFLite benchmark_model over adb).

No phone is attached to the machines this suite runs on, so these tests put a stand-in ``adb`` on
PATH: it records every command it is given and answers like a phone, replaying benchmark_model
output from ``tests/data/benchmark_model/`` (written from the tool's documented output format; see
the README there). This is the one test double of the suite, allowed because the real thing (a
phone) cannot be had here; everything on the laptop side (adb argv, parsing, rows, store, resume)
is the real code. A last test runs the real ``adb`` with no phone attached.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ghostbench.bench.measure import MeasureOptions, measure
from ghostbench.commands.cli import main
from ghostbench.core.cell import Cell
from ghostbench.core.window import HarnessConfig
from ghostbench.exporters import export
from ghostbench.worker.remote.adb import BENCHMARK_MODEL_ENV, AdbPhone

SAMPLES = Path(__file__).parent / "data" / "benchmark_model"
SERIAL = "R5CT1234ABC"
FAKE_ADB = """#!{python}
# Stand-in for adb (no phone here): logs argv, answers like a Pixel-class phone.
import json, os, sys
args = sys.argv[1:]
log = os.environ.get("FAKE_ADB_LOG")
if log:
    with open(log, "a") as f:
        f.write(json.dumps(args) + "\\n")
if args == ["devices"]:
    print("List of devices attached\\n{serial}\\tdevice\\n")
    sys.exit(0)
if args[:2] != ["-s", "{serial}"]:
    print("error: device '%s' not found" % args[1], file=sys.stderr)
    sys.exit(1)
if args[2] == "push":
    print("%s: 1 file pushed, 0 skipped." % args[3])
    sys.exit(0)
command = args[3]
if "getprop" in command:
    print("Google\\nPixel 7\\nTensor G2")
elif "cpuinfo_max_freq" in command:
    for cpu, khz in enumerate([1803000] * 4 + [2348000] * 2 + [2850000] * 2):
        print("/sys/devices/system/cpu/cpu%d/cpufreq/cpuinfo_max_freq:%d" % (cpu, khz))
elif "thermal_zone" in command:
    print("thermal_zone0 BIG 41000\\nthermal_zone1 battery 30500")
elif "benchmark_model --graph" in command:
    sys.stdout.write(open(os.environ["FAKE_ADB_OUTPUT"]).read())
"""
QUICK = HarnessConfig(warmup_min_iters=10, warmup_min_s=0.5, min_samples=50, min_time_s=0.3, time_cap_s=1.0)


@pytest.fixture(scope="module")
def tflite_050(artifact_cache: Path) -> Path:
    """A real GhostNet 0.5 TFLite export (the file pushed to the phone)."""
    return export("ghostnet_050", "tflite", "fp32", cache_dir=artifact_cache).path


@pytest.fixture
def phone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The stand-in adb first on PATH, its log, and a file standing for benchmark_model."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "adb"
    fake.write_text(FAKE_ADB.replace("{python}", sys.executable).replace("{serial}", SERIAL))
    fake.chmod(0o755)
    binary = tmp_path / "android_aarch64_benchmark_model"
    binary.write_bytes(b"\x7fELF stand-in for the benchmark_model binary")
    log = tmp_path / "adb.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_ADB_LOG", str(log))
    monkeypatch.setenv("FAKE_ADB_OUTPUT", str(SAMPLES / "litert_percentiles.txt"))
    monkeypatch.setenv(BENCHMARK_MODEL_ENV, str(binary))
    return {"adb": str(fake), "log": log, "binary": binary}


def _commands(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_pushed_and_run_commands_and_parsed_numbers(phone: dict, tflite_050: Path) -> None:
    artifact = export("ghostnet_050", "tflite", "fp32", cache_dir=tflite_050.parents[2])
    cell = Cell("ghostnet_050", "tflite", "android", threads=4)
    handset = AdbPhone.connect(serial=None, benchmark_model=phone["binary"])
    rows = measure(
        [cell],
        run_id="adb",
        options=MeasureOptions(rounds=1, harness=QUICK, timeout_s=60),
        artifact_for=lambda c: artifact,
        spawn=handset.spawn,
    )
    handset.close()
    graph = f"/data/local/tmp/ghostbench/{artifact.sha256[:16]}.tflite"
    run = (
        "taskset f0 /data/local/tmp/ghostbench/benchmark_model "
        f"--graph={graph} --num_threads=4 --use_xnnpack=true --warmup_runs=10 --warmup_min_secs=0.5 "
        "--num_runs=50 --min_secs=0.3 --max_secs=1"
    )
    shell = ["-s", SERIAL, "shell"]
    zones = 'for z in /sys/class/thermal/thermal_zone*; do echo "${z##*/} $(cat $z/type) $(cat $z/temp)"; '
    thermal = [*shell, zones + "done 2>/dev/null"]
    assert _commands(phone["log"]) == [
        ["devices"],
        [*shell, "getprop ro.product.manufacturer; getprop ro.product.model; getprop ro.soc.model"],
        [*shell, "grep -H . /sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq"],
        [*shell, "mkdir -p /data/local/tmp/ghostbench"],
        ["-s", SERIAL, "push", str(phone["binary"]), "/data/local/tmp/ghostbench/benchmark_model"],
        [*shell, "chmod 755 /data/local/tmp/ghostbench/benchmark_model"],
        ["-s", SERIAL, "push", str(artifact.path), graph],
        thermal,
        [*shell, run],
        thermal,
        [*shell, "rm -rf /data/local/tmp/ghostbench"],
    ]
    (row,) = rows
    assert row["status"] == "ok" and row["device"] == "android" and row["cell"] == cell.key
    assert row["runtime"] == "tflite-benchmark_model" and row["runtime_version"].startswith("sha256:")
    assert row["device_name"] == "Google Pixel 7 (Tensor G2)"
    # litert_percentiles.txt: count=146 min=6781 max=7411 avg=6874.33 std=91 median=6851 (us)
    assert (row["n"], row["windows"]) == (146, 1)
    assert row["median_ms"] == pytest.approx(6.851) and row["mean_ms"] == pytest.approx(6.87433)
    assert (row["min_ms"], row["max_ms"]) == (pytest.approx(6.781), pytest.approx(7.411))
    assert row["std_ms"] == pytest.approx(0.091 * math.sqrt(146 / 145))
    assert row["first_ms"] == pytest.approx(11.873) and row["load_ms"] == pytest.approx(41.518)
    assert math.isnan(row["p90_ms"]) and math.isnan(row["ci_low_ms"])  # the tool prints no samples
    assert row["flags"] == ""


def test_quick_bench_on_android_with_a_failed_window_then_resume(
    phone: dict,
    tflite_050: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    out = tmp_path / "results"
    args = ["--device", "android", "--serial", SERIAL, "--models", "ghostnet_050", "--out-dir", str(out)]
    args += ["--cache-dir", str(tflite_050.parents[2]), "--no-report"]
    monkeypatch.setenv("FAKE_ADB_OUTPUT", str(SAMPLES / "failed_mmap.txt"))
    assert main(["bench", *args, "--quick"]) == 2
    (run_dir,) = out.iterdir()
    first = pd.read_csv(run_dir / "latency.csv")
    assert first["status"].tolist() == ["error"]
    assert "Failed to mmap model" in first["error"][0]

    monkeypatch.setenv("FAKE_ADB_OUTPUT", str(SAMPLES / "tf_no_percentiles.txt"))
    assert main(["bench", *args, "--resume", run_dir.name]) == 0, capsys.readouterr().err[-2000:]
    final = pd.read_csv(run_dir / "latency.csv")
    assert final["status"].tolist() == ["ok"] and final["cell"][0] == "ghostnet_050/tflite/android/fp32/t1"
    assert final["mean_ms"][0] == pytest.approx(18.8612) and math.isnan(final["median_ms"][0])
    run = json.loads((run_dir / "run.json").read_text())
    (window,) = run["cells"]["ghostnet_050/tflite/android/fp32/t1"]["windows"]
    assert window["stop"] == "minimums" and window["env_before"]["cpus"] == [6, 7]
    assert window["env_after"]["thermal_c"] == {"thermal_zone0:BIG": 41.0, "thermal_zone1:battery": 30.5}
    assert "--num_threads=1" in window["env_before"]["argv"]


def test_options_and_backends_the_phone_cannot_run_are_error_rows(phone: dict, tflite_050: Path) -> None:
    artifact = export("ghostnet_050", "tflite", "fp32", cache_dir=tflite_050.parents[2])
    handset = AdbPhone.connect(serial=SERIAL, benchmark_model=phone["binary"])
    cells = [
        Cell("ghostnet_050", "onnxruntime", "android"),
        Cell("ghostnet_050", "tflite", "android", options={"fp16": "true"}),
        Cell("ghostnet_050", "tflite", "android", options={"gpu": "true"}),
    ]
    rows = measure(
        cells,
        run_id="adb",
        options=MeasureOptions(rounds=1, harness=QUICK, timeout_s=60),
        artifact_for=lambda c: artifact,
        spawn=handset.spawn,
    )
    assert [r["status"] for r in rows] == ["error", "error", "ok"]
    assert "runs tflite cells" in rows[0]["error"] and "no option fp16" in rows[1]["error"]
    assert any("--use_gpu=true" in c[-1] for c in _commands(phone["log"]))


@pytest.mark.skipif(shutil.which("adb") is None, reason="needs Debian's adb package (apt install adb)")
def test_real_adb_without_a_phone_stops_at_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`make bench DEVICE=android` with nothing attached: one line that says what to pass."""
    listing = subprocess.run(["adb", "devices"], capture_output=True, text=True, timeout=60)
    # adb prints "daemon not running; starting now" when this call started the server: only then is
    # it this test's to stop (a developer's running server and its connections are left alone).
    ours = "daemon not running" in listing.stderr
    attached = any(
        line.strip() and not line.startswith("List of") for line in listing.stdout.splitlines()[1:]
    )
    try:
        if attached:
            pytest.skip("a device is attached to this machine")
        started = time.perf_counter()
        assert main(["bench", "--device", "android", "--out-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "no Android device is attached" in err and "SERIAL=" in err and err.count("\n") == 1
        assert time.perf_counter() - started < 30
        assert not any(tmp_path.iterdir())
    finally:
        if ours:
            subprocess.run(["adb", "kill-server"], capture_output=True, timeout=60)
