"""Synthetic results directories (docs/results-schema.md, schema_version 1) for report tests.

The report is a pure function of results directories, so its tests write small but complete runs:
``run.json``, ``latency.csv``, ``latency.parquet``, ``samples.parquet`` and optionally
``accuracy.csv``. Latencies come from a caller-given function of the model, so a test states the
scenario (GhostNet wins, G-Ghost loses, ...) instead of relying on a real machine.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ghostbench.bench.store import MEASURED_COLUMNS, latency_frame
from ghostbench.core.stats import median_ci

SCHEMA_VERSION = 1
# Reduced precision runs faster in these scenarios (a factor on the model's latency).
PRECISION_SPEEDUP = {"fp16": 0.7, "int8": 0.6, "int8_dynamic": 0.8}


@dataclass(frozen=True)
class SynthModel:
    """What the report needs to know about a model; numbers are plausible, not measured."""

    name: str
    family: str
    params: int
    macs: int
    activations: int
    top1: float | None
    top1_source: str


def _published(name: str) -> tuple[float | None, str]:
    """The registry's reference top-1 and source, so the synthetic rows look like real ones."""
    from ghostbench.models import registry

    rows = registry.published_metrics().get(name, ())
    ref = next((m for m in rows if m.top1 is not None), None)
    return (ref.top1, ref.source) if ref else (None, "")


# name, family, params, MACs, activations: plausible complexity for the models the plan may hold.
_KNOWN: dict[str, tuple[str, int, int, int]] = {
    "ghostnet_050": ("c-ghost", 2_600_000, 42_000_000, 2_100_000),
    "ghostnet_100": ("c-ghost", 5_200_000, 141_000_000, 4_200_000),
    "ghostnet_130": ("c-ghost", 7_300_000, 226_000_000, 5_600_000),
    "ghostnetv2_100": ("ghostnetv2", 6_100_000, 167_000_000, 5_000_000),
    "mobilenetv2_100": ("mobilenet", 3_500_000, 300_000_000, 6_700_000),
    "mobilenetv3_large_100": ("mobilenet", 5_400_000, 217_000_000, 4_400_000),
    "mobilenetv3_small_100": ("mobilenet", 2_500_000, 57_000_000, 1_400_000),
    "shufflenetv2_100": ("shufflenet", 2_300_000, 146_000_000, 2_600_000),
    "regnetx_032": ("regnet", 15_300_000, 3_177_000_000, 11_400_000),
    "regnetx_040": ("regnet", 22_100_000, 3_987_000_000, 12_200_000),
    "regnetx_080": ("regnet", 39_600_000, 7_995_000_000, 14_100_000),
    "g_ghost_regnetx_032": ("g-ghost", 10_500_000, 1_800_000_000, 6_900_000),
    "g_ghost_regnetx_040": ("g-ghost", 15_700_000, 2_200_000_000, 7_600_000),
    "g_ghost_regnetx_080": ("g-ghost", 24_600_000, 4_200_000_000, 8_800_000),
    "resnet50": ("resnet", 25_600_000, 4_089_000_000, 11_300_000),
    "ghost_resnet50": ("ghost-resnet", 13_000_000, 2_200_000_000, 8_100_000),
}


def default_models() -> list[SynthModel]:
    """The plan's default model set, with published top-1 from the registry's table."""
    from ghostbench.bench.plan import DEFAULT_MODELS

    out = []
    for name in DEFAULT_MODELS:
        family, params, macs, acts = _KNOWN[name]
        top1, source = _published(name)
        out.append(SynthModel(name, family, params, macs, acts, top1, source))
    return out


def model(name: str, family: str, *, top1: float | None, macs: int = 100_000_000, acts: int = 2_000_000):
    """One made-up model for scenario tests."""
    return SynthModel(name, family, 1_000_000, macs, acts, top1, "synthetic source for tests")


def cpu_latency(m: SynthModel) -> float:
    """A CPU-like cost: MACs dominate."""
    return 0.4 + m.macs / 60e6 + m.activations / 8e6


def gpu_latency(m: SynthModel) -> float:
    """A GPU-like cost: activations (memory traffic, kernel count) dominate, MACs barely matter."""
    return 0.3 + m.activations / 4e6 + m.macs / 4e10


@dataclass(frozen=True)
class Cell:
    model: SynthModel
    backend: str
    precision: str = "fp32"
    error: str = ""  # non-empty: a failed cell
    flags: str = ""


def _samples(median_ms: float, n: int, windows: int, rng: np.random.Generator, spread: float) -> np.ndarray:
    """Right-skewed latencies around ``median_ms`` (ns, int64), per window a small offset."""
    per = max(n // windows, 1)
    out = []
    for _ in range(windows):
        shift = 1.0 + rng.normal(0.0, spread / 3)
        noise = rng.lognormal(mean=0.0, sigma=spread, size=per)
        out.append(median_ms * shift * noise / np.median(noise))
    return np.round(np.concatenate(out) * 1e6).astype(np.int64)


def write_run(
    root: Path,
    run_id: str,
    cells: Iterable[Cell],
    latency_ms: Callable[[SynthModel], float],
    *,
    device: str = "cpu",
    device_name: str = "Synthetic CPU @ 2.0GHz",
    threads: int = 2,
    runtimes: dict[str, tuple[str, str]] | None = None,
    samples_per_cell: int = 300,
    windows: int = 3,
    spread: float = 0.02,
    seed: int = 0,
    skipped: list[dict] | None = None,
    accuracy: list[dict] | None = None,
    env: dict | None = None,
    status: str = "complete",
) -> Path:
    """Write one complete results directory and return it."""
    runtimes = runtimes or {
        "onnxruntime": ("onnxruntime", "1.20.1"),
        "torch": ("torch", "2.13.0"),
        "tflite": ("ai-edge-litert", "2.3.0"),
        "torch_compile": ("torch", "2.13.0"),
    }
    rng = np.random.default_rng(seed)
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    rows, sample_frames, plan = [], [], []
    for cell in cells:
        m = cell.model
        runtime, version = runtimes[cell.backend]
        key = f"{m.name}/{cell.backend}/{device}/{cell.precision}/t{threads}"
        plan.append(
            {
                "model": m.name,
                "backend": cell.backend,
                "device": device,
                "precision": cell.precision,
                "threads": threads,
                "options": {},
            }
        )
        row: dict = {
            "schema_version": SCHEMA_VERSION,
            "run_id": run_id,
            "cell": key,
            "model": m.name,
            "family": m.family,
            "backend": cell.backend,
            "runtime": runtime,
            "runtime_version": version,
            "device": device,
            "device_name": device_name,
            "precision": cell.precision,
            "threads": threads,
            "params": m.params,
            "macs": m.macs,
            "activations": m.activations,
            "top1": m.top1 if m.top1 is not None else math.nan,
            "top1_source": m.top1_source if m.top1 is not None else "",
            "top1_kind": "published" if m.top1 is not None else "",
            "artifact_sha256": ""
            if cell.backend.startswith("torch")
            else hashlib.sha256(key.encode()).hexdigest(),
            "parity_cosine": math.nan if cell.backend.startswith("torch") else 0.99999,
            "parity_max_abs": math.nan if cell.backend.startswith("torch") else 2.5e-5,
            "started_at": "2026-11-23T12:15:00Z",
            "duration_s": 12.5,
            "flags": cell.flags,
            "error": cell.error,
        }
        if cell.error:
            # A failed cell has no numbers (docs/results-schema.md).
            row |= dict.fromkeys(MEASURED_COLUMNS, math.nan) | {"status": "error", "n": 0, "windows": 0}
        else:
            med = latency_ms(m) * PRECISION_SPEEDUP.get(cell.precision, 1.0)
            ns = _samples(med, samples_per_cell, windows, rng, spread)
            per = len(ns) // windows
            sample_frames.append(
                pd.DataFrame(
                    {
                        "run_id": run_id,
                        "cell": key,
                        "window": np.repeat(np.arange(windows), per).astype(np.int64),
                        "iteration": np.tile(np.arange(per), windows).astype(np.int64),
                        "latency_ns": ns,
                    }
                )
            )
            ms = np.sort(ns) / 1e6
            lo, hi = median_ci(ms)
            win_meds = [float(np.median(ns[i * per : (i + 1) * per])) / 1e6 for i in range(windows)]
            row |= {
                "status": "ok",
                "median_ms": float(np.median(ms)),
                "p90_ms": float(np.percentile(ms, 90)),
                "p99_ms": float(np.percentile(ms, 99)),
                "mean_ms": float(ms.mean()),
                "std_ms": float(ms.std(ddof=1)),
                "min_ms": float(ms.min()),
                "max_ms": float(ms.max()),
                "cv": float(ms.std(ddof=1) / ms.mean()),
                "ci_low_ms": lo,
                "ci_high_ms": hi,
                "n": len(ms),
                "windows": windows,
                "window_spread": (max(win_meds) - min(win_meds)) / float(np.median(ms)),
                "first_ms": float(ms.max()) * 3,
                "load_ms": 40.0,
            }
        rows.append(row)
    latency = latency_frame(rows)
    latency.to_csv(run_dir / "latency.csv", index=False)
    latency.to_parquet(run_dir / "latency.parquet", index=False)
    samples = (
        pd.concat(sample_frames, ignore_index=True)
        if sample_frames
        else pd.DataFrame(
            {
                "run_id": pd.Series(dtype=str),
                "cell": pd.Series(dtype=str),
                "window": pd.Series(dtype="int64"),
                "iteration": pd.Series(dtype="int64"),
                "latency_ns": pd.Series(dtype="int64"),
            }
        )
    )
    samples.to_parquet(run_dir / "samples.parquet", index=False)
    run = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "status": status,
        "created": "2026-11-23T12:15:00Z",
        "finished": "2026-11-23T12:45:00Z",
        "command": ["ghostbench", "bench", "--device", device],
        "options": {"device": device, "time_cap_s": 10, "threads": threads},
        "env": env if env is not None else default_env(device, device_name),
        "plan": plan,
        "skipped": skipped or [],
        "overhead_ns": 250,
    }
    (run_dir / "run.json").write_text(json.dumps(run, indent=2))
    if accuracy:
        pd.DataFrame(accuracy).to_csv(run_dir / "accuracy.csv", index=False)
    return run_dir


def default_env(device: str, device_name: str) -> dict:
    """An environment snapshot shaped like the env collector's, including unavailable entries."""
    gpu = (
        {"name": device_name, "clocks_mhz": {"sm": 1980, "mem": 2619}, "temperature_c": 41, "power_w": 88.5}
        if device == "cuda"
        else {"unavailable": "no NVIDIA GPU (nvidia-ml-py: NVMLError_LibraryNotFound)"}
    )
    return {
        "host": {"hostname": "synthetic", "os": "Linux 6.1", "python": "3.11.9"},
        "cpu": {
            "model": "Synthetic CPU @ 2.0GHz",
            "cores_logical": 2,
            "governor": {"unavailable": "no cpufreq in this container"},
            "freq_mhz": {"before": [2000.0, 2000.0], "after": [1995.0, 2001.0]},
            "temperatures_c": {
                "before": {"unavailable": "no sensors"},
                "after": {"unavailable": "no sensors"},
            },
        },
        "gpu": gpu,
        "versions": {"torch": "2.13.0", "onnxruntime": "1.20.1", "numpy": "2.1.0"},
    }


def full_cells(models: list[SynthModel], backends: Iterable[str]) -> list[Cell]:
    """Every model on every backend, fp32."""
    return [Cell(m, b) for b in backends for m in models]


def renamed(m: SynthModel, name: str) -> SynthModel:
    return replace(m, name=name)
