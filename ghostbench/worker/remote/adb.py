"""Measure TFLite files on an Android phone with TFLite's own ``benchmark_model`` over adb.

A phone has no Python worker, so each window is one ``benchmark_model`` run with the harness's
settings translated to its flags (``--warmup_runs``/``--warmup_min_secs``, ``--num_runs``/
``--min_secs``/``--max_secs``), an explicit ``--num_threads`` and delegate (``--use_xnnpack``, and
``--use_gpu``/``--use_nnapi`` from the cell's ``gpu``/``nnapi`` options), pinned with ``taskset``
to the fastest cores (by each core's ``cpuinfo_max_freq``), with the thermal zones read before and
after. Its printed statistics (``parse.py``) become the window; the row says which binary ran
(``runtime_version`` is the sha256 of the ``benchmark_model`` file, which prints no version).

Commands: ``adb devices`` to pick the phone; ``adb -s SERIAL push`` (the binary once, each model
once, under ``/data/local/tmp/ghostbench``); ``adb -s SERIAL shell COMMAND`` where COMMAND is one
string the phone's shell parses, built with ``shlex.join`` (every argument ``shlex.quote``-d) or
one of the constant probe scripts below. Pushed files are removed when the run ends.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ghostbench.core.artifact import file_sha256
from ghostbench.core.cell import Cell
from ghostbench.core.errors import GhostbenchError
from ghostbench.core.window import HarnessConfig, WindowOutcome
from ghostbench.runners.base import option_bool
from ghostbench.worker.process import crash_tail
from ghostbench.worker.remote import parse

log = logging.getLogger("ghostbench.bench.remote")

WORKDIR = "/data/local/tmp/ghostbench"  # where adb may write and execute on any phone
BINARY = f"{WORKDIR}/benchmark_model"
RUNTIME = "tflite-benchmark_model"
OPTIONS: dict[str, str] = {
    "xnnpack": "true (default) / false: --use_xnnpack",
    "gpu": "true / false (default): --use_gpu, TFLite's GPU delegate",
    "nnapi": "true / false (default): --use_nnapi, Android's NNAPI delegate",
}
GET_BINARY = (
    "download android_aarch64_benchmark_model (64-bit phones) or android_arm_benchmark_model from "
    "https://storage.googleapis.com/tensorflow-nightly-public/prod/tensorflow/release/lite/tools/"
    "nightly/latest/ (see README, ARM boards)"
)
# Constant probe scripts (no user input in them; the globs must reach the phone's shell unquoted).
PROPS_SCRIPT = "getprop ro.product.manufacturer; getprop ro.product.model; getprop ro.soc.model"
FREQ_SCRIPT = "grep -H . /sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq"
THERMAL_SCRIPT = (
    'for z in /sys/class/thermal/thermal_zone*; do echo "${z##*/} $(cat $z/type) $(cat $z/temp)"; '
    "done 2>/dev/null"
)
ADB_TIMEOUT_S = 60.0
# Where ``make bench DEVICE=android`` finds TFLite's benchmark_model binary for the phone.
BENCHMARK_MODEL_ENV = "GHOSTBENCH_BENCHMARK_MODEL"
PUSH_TIMEOUT_S = 600.0


def select_device(devices_output: str, serial: str | None) -> str:
    """The serial to use from ``adb devices`` output; a missing, ambiguous or unusable phone
    raises with what to do."""
    states: dict[str, str] = {}
    for line in devices_output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith(("*", "List of devices")):
            states[parts[0]] = parts[1]
    listed = ", ".join(f"{s} ({state})" for s, state in states.items()) or "none"
    if serial is None:
        ready = [s for s, state in states.items() if state == "device"]
        if not states:
            raise GhostbenchError(
                "DEVICE=android but no Android device is attached (`adb devices` lists none): connect "
                "the phone with USB debugging on (or `adb connect HOST:PORT`), then run "
                "make bench DEVICE=android SERIAL=<serial from adb devices>"
            )
        if len(ready) == 1:
            serial = ready[0]
        elif len(states) == 1:  # the only phone, not usable: its state below says why
            serial = next(iter(states))
        else:
            raise GhostbenchError(f"pick the phone with SERIAL=<serial>: adb devices lists {listed}")
    state = states.get(serial)
    if state is None:
        raise GhostbenchError(f"no device {serial!r} is attached; adb devices lists {listed}")
    if state == "unauthorized":
        raise GhostbenchError(f"{serial} is unauthorized: accept the USB debugging prompt on the phone")
    if state != "device":
        raise GhostbenchError(f"{serial} is {state}; reconnect it (adb devices lists {listed})")
    return serial


def fastest_cores(freq_output: str, threads: int) -> list[int]:
    """The cores to pin to: those at least as fast as the ``threads``-th fastest (by
    ``cpuinfo_max_freq``), so one thread gets the prime/big cluster and N threads N fast cores."""
    freqs: dict[int, int] = {}
    for match in re.finditer(r"cpu(\d+)/cpufreq/cpuinfo_max_freq:(\d+)", freq_output):
        freqs[int(match.group(1))] = int(match.group(2))
    if not freqs:
        return []
    ranked = sorted(freqs.values(), reverse=True)
    floor = ranked[min(threads, len(ranked)) - 1]
    return sorted(cpu for cpu, freq in freqs.items() if freq >= floor)


def cpu_mask(cpus: list[int]) -> str:
    """``taskset``'s hex affinity mask of ``cpus`` (e.g. [4, 5, 6, 7] -> ``f0``)."""
    return format(sum(1 << cpu for cpu in cpus), "x")


def parse_thermal(output: str) -> dict[str, float]:
    """``thermal_zoneN TYPE MILLIDEGREES`` lines into ``{"thermal_zoneN:TYPE": celsius}``."""
    temps = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 3 and re.fullmatch(r"-?\d+", parts[2]):
            temps[f"{parts[0]}:{parts[1]}"] = int(parts[2]) / 1000  # sysfs thermal ABI: m°C
    return temps


def _bool(cell: dict, name: str, default: bool) -> bool:
    return option_bool(Cell.from_dict(cell), name, default)


def benchmark_argv(graph: str, cell: dict, harness: HarnessConfig, cpus: list[int]) -> list[str]:
    """The phone-side argv of one window (``taskset MASK`` first when pinned)."""
    argv = ["taskset", cpu_mask(cpus)] if cpus else []
    argv += [
        BINARY,
        f"--graph={graph}",
        f"--num_threads={int(cell['threads'])}",
        f"--use_xnnpack={str(_bool(cell, 'xnnpack', True)).lower()}",
        f"--warmup_runs={harness.warmup_min_iters}",
        f"--warmup_min_secs={harness.warmup_min_s:g}",
        f"--num_runs={harness.min_samples}",
        f"--min_secs={harness.min_time_s:g}",
        f"--max_secs={harness.time_cap_s:g}",
    ]
    if _bool(cell, "gpu", False):
        argv.append("--use_gpu=true")
    if _bool(cell, "nnapi", False):
        argv.append("--use_nnapi=true")
    return argv


@dataclass
class AdbPhone:
    """One phone for one run: its serial, facts, the pushed binary and models."""

    serial: str
    benchmark_model: Path
    adb: str = "adb"
    device_name: str = ""
    freqs: str = ""
    _pushed: dict[str, str] = field(default_factory=dict)  # sha256 -> path on the phone
    _binary_sha: str = ""

    @classmethod
    def connect(cls, serial: str | None, benchmark_model: Path | None) -> AdbPhone:
        """Pick the phone, push ``benchmark_model``; fails at once with what to pass."""
        adb = shutil.which("adb")
        if adb is None:
            raise GhostbenchError(
                "DEVICE=android needs adb: apt install adb (Debian, Ubuntu) or Android platform-tools"
            )
        listing = _run([adb, "devices"], ADB_TIMEOUT_S)
        chosen = select_device(listing.stdout, serial)
        if benchmark_model is None:
            raise GhostbenchError(
                f"DEVICE=android times with TFLite's benchmark_model: {GET_BINARY}, then pass its path "
                f"as {BENCHMARK_MODEL_ENV}=/path/to/android_aarch64_benchmark_model"
            )
        if not benchmark_model.is_file():
            raise GhostbenchError(f"{BENCHMARK_MODEL_ENV}: no file {benchmark_model}")
        phone = cls(serial=chosen, benchmark_model=benchmark_model, adb=adb)
        phone.setup()
        return phone

    def argv(self, *args: str) -> list[str]:
        return [self.adb, "-s", self.serial, *args]

    def shell(
        self, command: list[str] | str, timeout_s: float = ADB_TIMEOUT_S
    ) -> subprocess.CompletedProcess:
        """Run ``command`` (an argv, quoted here, or a constant script) in the phone's shell."""
        script = command if isinstance(command, str) else shlex.join(command)
        return _run(self.argv("shell", script), timeout_s, check=False)

    def push(self, local: Path, remote: str) -> None:
        # adb's sync protocol takes the remote path literally (no shell), so it is not quoted.
        done = _run(self.argv("push", str(local), remote), PUSH_TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise GhostbenchError(
                f"adb push {local} to {self.serial} failed: {crash_tail(done.stderr or done.stdout)}"
            )

    def setup(self) -> None:
        props = [line.strip() for line in self.shell(PROPS_SCRIPT).stdout.splitlines()]
        maker, model, soc = [*props, "", "", ""][:3]
        self.device_name = " ".join(p for p in (maker, model) if p) + (f" ({soc})" if soc else "")
        self.freqs = self.shell(FREQ_SCRIPT).stdout
        self._binary_sha = file_sha256(self.benchmark_model)
        if self.shell(["mkdir", "-p", WORKDIR]).returncode != 0:
            raise GhostbenchError(f"cannot create {WORKDIR} on {self.serial}")
        self.push(self.benchmark_model, BINARY)
        if self.shell(["chmod", "755", BINARY]).returncode != 0:
            raise GhostbenchError(f"cannot make {BINARY} executable on {self.serial}")
        log.info("phone %s (%s), benchmark_model sha256 %s", self.serial, self.device_name, self._binary_sha)

    def _graph(self, artifact: dict) -> str:
        local = Path(artifact["path"])
        if artifact.get("format") != "tflite" or local.suffix != ".tflite":
            raise GhostbenchError(f"the android profile times .tflite files, got {local.name}")
        if not local.is_file():
            raise GhostbenchError(f"artifact not found: {local}")
        sha = artifact.get("sha256") or file_sha256(local)
        if sha not in self._pushed:
            remote = f"{WORKDIR}/{sha[:16]}.tflite"
            self.push(local, remote)
            self._pushed[sha] = remote
        return self._pushed[sha]

    def spawn(self, payload: dict, *, timeout_s: float) -> WindowOutcome:
        """One window: one benchmark_model run; every way it can end becomes a WindowOutcome."""
        start = time.perf_counter()
        try:
            return self._window(payload, timeout_s, start)
        except GhostbenchError as exc:  # a bad cell, a failed push, adb hanging: this window only
            return WindowOutcome(status="error", error=str(exc), wall_s=time.perf_counter() - start)

    def _window(self, payload: dict, timeout_s: float, start: float) -> WindowOutcome:
        cell = payload["cell"]
        if cell["backend"] != "tflite":
            raise GhostbenchError(f"the android profile runs tflite only, not {cell['backend']!r}")
        unknown = sorted(set(cell.get("options", {})) - set(OPTIONS))
        if unknown:
            raise GhostbenchError(f"no option {', '.join(unknown)} on android; valid: {', '.join(OPTIONS)}")
        if not payload.get("artifact"):
            raise GhostbenchError("the android profile needs a .tflite artifact")
        harness = HarnessConfig.from_dict(payload["harness"])
        cpus = fastest_cores(self.freqs, int(cell["threads"]))
        argv = benchmark_argv(self._graph(payload["artifact"]), cell, harness, cpus)
        before = {"thermal_c": parse_thermal(self.shell(THERMAL_SCRIPT).stdout), "cpus": cpus, "argv": argv}
        done = self.shell(argv, timeout_s=timeout_s)
        after = {"thermal_c": parse_thermal(self.shell(THERMAL_SCRIPT).stdout)}
        wall_s = time.perf_counter() - start
        text = f"{done.stdout}\n{done.stderr}"
        try:
            output = parse.parse_output(text)
        except parse.BenchmarkOutputError as exc:
            status = f" (exit status {done.returncode})" if done.returncode else ""
            error = f"benchmark_model on {self.serial}{status}: {exc}\n{crash_tail(text)}"
            return WindowOutcome(status="error", error=error, returncode=done.returncode, wall_s=wall_s)
        result = {
            "status": "ok",
            "runtime": RUNTIME,
            "runtime_version": f"sha256:{self._binary_sha[:12]}",
            "device_name": self.device_name,
            "window": parse.window(output, harness.settle_tolerance),
            "reported": parse.reported(output),
            "env_before": before,
            "env_after": after,
        }
        return WindowOutcome(status="ok", result=result, returncode=done.returncode, wall_s=wall_s)

    def close(self) -> None:
        """Remove what this run pushed (the binary and the models); a phone that is gone is fine."""
        with contextlib.suppress(GhostbenchError):
            self.shell(["rm", "-rf", WORKDIR])


def _run(argv: list[str], timeout_s: float, check: bool = True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, errors="replace")
    except subprocess.TimeoutExpired:
        raise GhostbenchError(f"{shlex.join(argv)[:200]} did not finish within {timeout_s:g} s") from None
    if check and done.returncode != 0:
        raise GhostbenchError(f"{shlex.join(argv)[:200]} failed: {crash_tail(done.stderr or done.stdout)}")
    return done
