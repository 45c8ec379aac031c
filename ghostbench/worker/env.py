"""What the machine looked like: a full snapshot once per run, a light probe before and after each
window. One small collector per source (pyperf's ``_collect_metadata``); each returns a value or
``{"unavailable": "<reason>"}`` and never raises, because a missing sensor must not cost a result.

Throttling during a window is read from counters that only grow (Linux
``thermal_throttle/*_throttle_count``), from the GPU's clock-event reasons (NVML) and from a
Raspberry Pi's firmware (``vcgencmd get_throttled``, read by the board's worker), so a cell is
flagged ``throttled`` on evidence, not on a guessed frequency threshold.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ghostbench.core.cell import LOCAL_DEVICES
from ghostbench.core.versions import package_version


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# Distributions whose versions every run records (the runtime is part of what is measured).
VERSIONED: tuple[str, ...] = (
    "ghostbench",
    "torch",
    "numpy",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "ai-edge-litert",
    "tflite-runtime",
    "litert-torch",
    "tensorrt",
    "nvidia-ml-py",
    "psutil",
    "scipy",
)
CPU_SYS = Path("/sys/devices/system/cpu")
# NVML clock-event reasons that mean the GPU was slowed down (not idle, not app clocks):
# SW power cap, HW slowdown, SW thermal, HW thermal, HW power brake.
GPU_THROTTLE_BITS: dict[int, str] = {
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x20: "sw_thermal",
    0x40: "hw_thermal",
    0x80: "hw_power_brake",
}

# ``vcgencmd get_throttled`` states (names from ``worker.remote.board.parse_vcgencmd``) that cap a
# Pi's speed while set; each has a sticky ``<name>_occurred`` twin that stays set until reboot.
PI_THROTTLE_STATES: tuple[str, ...] = ("under_voltage", "arm_freq_capped", "throttled", "soft_temp_limit")


def _safe(collector: Callable[[], Any]) -> Any:
    try:
        return collector()
    except Exception as exc:  # a collector reports why it has nothing; it never fails the run
        return {"unavailable": f"{type(exc).__name__}: {exc}"}


def now_iso() -> str:
    """UTC now as ISO 8601 with a ``Z``, to the second."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cpu_model() -> str:
    """The CPU's name from ``/proc/cpuinfo`` (x86 ``model name``; ARM boards' ``Model`` or
    ``Hardware``), else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    fields: dict[str, str] = {}
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip().lower(), value.strip())
    for key in ("model name", "model", "hardware"):
        if fields.get(key):
            return fields[key]
    return platform.processor() or platform.machine()


def _read(path: Path) -> str:
    return path.read_text().strip()


def _governor() -> str:
    return _read(CPU_SYS / "cpu0" / "cpufreq" / "scaling_governor")


def _freq() -> dict:
    import psutil

    freq = psutil.cpu_freq()
    if freq is None:
        raise OSError("psutil.cpu_freq() has nothing on this machine")
    return {"current_mhz": freq.current, "min_mhz": freq.min, "max_mhz": freq.max}


def _temperatures() -> dict:
    import psutil

    if not hasattr(psutil, "sensors_temperatures"):
        raise OSError("psutil has no temperature sensors on this platform")
    temps = psutil.sensors_temperatures()
    if not temps:
        raise OSError("no temperature sensors exposed")
    return {name: max(t.current for t in entries) for name, entries in temps.items() if entries}


def _throttle_count() -> int:
    """Sum of the kernel's thermal throttle event counters over all CPUs (Linux x86)."""
    files = list(CPU_SYS.glob("cpu[0-9]*/thermal_throttle/*_throttle_count"))
    if not files:
        raise OSError("no thermal_throttle counters in /sys (VM, ARM or non-Linux)")
    return sum(int(_read(f)) for f in files)


def host() -> dict:
    return {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
    }


def cpu() -> dict:
    import psutil

    return {
        "model": _safe(cpu_model),
        "arch": platform.machine(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": _safe(lambda: psutil.cpu_count(logical=False)),
        "affinity": _safe(lambda: sorted(os.sched_getaffinity(0))),
        "governor": _safe(_governor),
        "freq": _safe(_freq),
        "memory_bytes": psutil.virtual_memory().total,
    }


def _nvml() -> Any:
    import pynvml

    pynvml.nvmlInit()
    return pynvml


def _gpu_throttle_reasons(nvml: Any, handle: Any) -> int:
    # NVML 12.5 renamed "throttle reasons" to "clocks event reasons"; older bindings lack the new name.
    getter = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
    if getter is None:
        getter = nvml.nvmlDeviceGetCurrentClocksThrottleReasons
    return int(getter(handle))


def gpu() -> dict:
    """Static facts about each NVIDIA GPU (NVML), or why there are none."""
    nvml = _nvml()
    devices = []
    for i in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(i)
        devices.append(
            {
                "index": i,
                "name": _safe(lambda h=handle: _text(nvml.nvmlDeviceGetName(h))),
                "memory_bytes": _safe(lambda h=handle: int(nvml.nvmlDeviceGetMemoryInfo(h).total)),
                "max_sm_clock_mhz": _safe(
                    lambda h=handle: nvml.nvmlDeviceGetMaxClockInfo(h, nvml.NVML_CLOCK_SM)
                ),
                "power_limit_w": _safe(lambda h=handle: nvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000),
            }
        )
    return {"driver": _text(nvml.nvmlSystemGetDriverVersion()), "devices": devices}


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _gpu_probe() -> dict:
    nvml = _nvml()
    handle = nvml.nvmlDeviceGetHandleByIndex(0)
    return {
        "sm_clock_mhz": _safe(lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM)),
        "mem_clock_mhz": _safe(lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM)),
        "temperature_c": _safe(lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
        "power_w": _safe(lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000),
        "throttle_reasons": _safe(lambda: _gpu_throttle_reasons(nvml, handle)),
    }


def versions() -> dict:
    """Installed versions of the libraries that can run a cell (without importing them)."""
    found = {name: package_version(name) for name in VERSIONED}
    found["python"] = sys.version.split()[0]
    return found


def torch_build() -> dict:
    import torch

    return {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "threads": torch.get_num_threads(),
    }


def snapshot() -> dict:
    """The environment of a run, stored once in ``run.json``."""
    return {
        "host": _safe(host),
        "cpu": _safe(cpu),
        "gpu": _safe(gpu),
        "versions": _safe(versions),
        "torch": _safe(torch_build),
        "taken_at": now_iso(),
    }


def probe(device: str) -> dict:
    """The fast-changing state around one window: frequency, temperatures, load, throttle counters."""
    data = {
        "time": now_iso(),
        "load_avg": _safe(lambda: list(os.getloadavg())),
        "cpu_freq": _safe(_freq),
        "temperatures_c": _safe(_temperatures),
        "cpu_throttle_count": _safe(_throttle_count),
    }
    if device == "cuda":
        data["gpu"] = _safe(_gpu_probe)
    return data


def throttle_reasons(before: dict, after: dict) -> list[str]:
    """Evidence of throttling between two probes: a grown CPU throttle counter, GPU slowdown bits or
    a Raspberry Pi firmware state that caps its speed."""
    reasons = []
    b, a = before.get("cpu_throttle_count"), after.get("cpu_throttle_count")
    if isinstance(b, int) and isinstance(a, int) and a > b:
        reasons.append(f"cpu thermal throttle events +{a - b}")
    for probe_ in (before, after):
        bits = probe_.get("gpu", {}).get("throttle_reasons") if isinstance(probe_.get("gpu"), dict) else None
        if isinstance(bits, int):
            reasons += [f"gpu {name}" for bit, name in GPU_THROTTLE_BITS.items() if bits & bit]
        reasons += [f"pi {name}" for name in _pi_flags(probe_) or () if name in PI_THROTTLE_STATES]
    # A sticky bit set after the window but not before: the state came and went during it.
    was, now = _pi_flags(before), _pi_flags(after)
    if was is not None and now is not None:
        reasons += [
            f"pi {n.removesuffix('_occurred')} during the window"
            for n in now - was
            if n.endswith("_occurred")
        ]
    return sorted(set(reasons))


def _pi_flags(probe_: dict) -> set[str] | None:
    """The ``vcgencmd get_throttled`` state names a board's probe recorded; ``None`` without a reading."""
    readings = probe_.get("vcgencmd")
    flags = readings.get("throttled_flags") if isinstance(readings, dict) else None
    return {str(f) for f in flags} if isinstance(flags, list) else None


def device_name(device: str) -> str:
    """CPU model or GPU name, for the ``device_name`` column."""
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name(0)
    return cpu_model()


# ---- evidence that other work shared the machine (read back from run.json by compare and run_noise)

# A machine is busy when its 1-minute load average exceeds its logical CPUs by more than this: a
# cell with as many threads as CPUs brings the load to the CPU count by itself, and the parent,
# the probes and kernel threads add a little.
BUSY_EXCESS = 0.5


def peak_load(run: dict, key: str) -> float | None:
    """The highest 1-minute load average probed before and after the windows of cell ``key``
    (``run.json`` ``cells.<key>.windows[].env_before/env_after.load_avg``), if recorded."""
    cells = run.get("cells")
    details = cells.get(key) if isinstance(cells, dict) else None
    windows = details.get("windows") if isinstance(details, dict) else None
    loads = []
    for window in windows if isinstance(windows, list) else []:
        for name in ("env_before", "env_after"):
            probe = window.get(name) if isinstance(window, dict) else None
            load = probe.get("load_avg") if isinstance(probe, dict) else None
            if (
                isinstance(load, list)
                and load
                and isinstance(load[0], int | float)
                and math.isfinite(load[0])
            ):
                loads.append(float(load[0]))
    return max(loads) if loads else None


def logical_cores(run: dict) -> int | None:
    cpu = (run.get("env") or {}).get("cpu")
    cores = cpu.get("logical_cores") if isinstance(cpu, dict) else None
    return cores if isinstance(cores, int) and cores > 0 else None


def busy(run: dict, key: str, device: str) -> str:
    """Evidence that other work shared this machine while cell ``key`` ran: more runnable tasks
    than CPUs (1-minute load average above the logical CPU count + :data:`BUSY_EXCESS`) around one
    of its windows. Only for devices on the measuring host; '' when there is no such evidence."""
    if device not in LOCAL_DEVICES:
        return ""
    load, cores = peak_load(run, key), logical_cores(run)
    if load is None or cores is None or load <= cores + BUSY_EXCESS:
        return ""
    return f"load average up to {load:.2f} on {cores} CPUs"
