"""Small results directories for ``compare`` tests, written through the real :class:`RunStore`.

Each cell's samples are drawn from a stated distribution (a log-normal around a median, one
multiplicative shift per window), so a test states its scenario (same machine, a 20 % slower cell,
a noisy cell) and the rows are summarised by ``ghostbench.core.stats`` exactly as ``measure`` does.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ghostbench.bench.store import LATENCY_COLUMNS, RunStore, samples_frame
from ghostbench.core import stats
from ghostbench.core.cell import Cell

CPU_NAME = "Test CPU 9000 @ 3.00GHz"


@dataclass(frozen=True)
class SynthCell:
    """One cell of a synthetic run: latency ``median_ms`` with log-normal noise ``sigma`` and one
    factor per window in ``shifts`` (their count is the number of windows)."""

    model: str
    backend: str = "onnxruntime"
    device: str = "cpu"
    precision: str = "fp32"
    threads: int = 1
    median_ms: float = 5.0
    sigma: float = 0.05
    n: int = 400  # samples per window
    shifts: tuple[float, ...] = (1.0, 1.0, 1.0)
    runtime: str = "onnxruntime"
    runtime_version: str = "1.20.0"
    device_name: str = CPU_NAME
    flags: tuple[str, ...] = ()
    error: str = ""
    options: dict = field(default_factory=dict)

    @property
    def cell(self) -> Cell:
        return Cell(self.model, self.backend, self.device, self.precision, self.threads, dict(self.options))

    def windows(self, rng: np.random.Generator) -> list[list[int]]:
        base = self.median_ms * 1e6
        return [
            np.round(base * shift * np.exp(rng.normal(0.0, self.sigma, self.n))).astype(np.int64).tolist()
            for shift in self.shifts
        ]


def env(cpu: str = CPU_NAME, versions: dict | None = None, gpu: str | None = None) -> dict:
    """A ``run.json`` ``env`` with the entries ``compare`` lists when they differ."""
    return {
        "host": {"hostname": "testhost", "python": "3.11.7"},
        "cpu": {"model": cpu, "logical_cores": 2, "governor": "performance"},
        "gpu": {"driver": "550.54", "devices": [{"index": 0, "name": gpu}]}
        if gpu
        else {"unavailable": "NVMLError: no GPU"},
        "versions": {"onnxruntime": "1.20.0", "torch": "2.13.0", "numpy": "2.1.0", **(versions or {})},
        "torch": {"version": "2.13.0", "cuda": None, "cudnn": None, "threads": 1},
    }


def write_run(
    path: Path,
    cells: Sequence[SynthCell],
    *,
    seed: int = 0,
    status: str = "complete",
    run_env: dict | None = None,
    skipped: Sequence[tuple[str, str]] = (),
    with_samples: bool = True,
    load_avg: float = 0.8,
) -> Path:
    """A complete results folder at ``path`` with one row per cell (error rows for ``error``);
    ``load_avg`` is the 1-minute load average the probes around each window record."""
    rng = np.random.default_rng(seed)
    store = RunStore(path)
    store.write_run_json(
        {
            "status": status,
            "created": "2026-11-23T12:00:00Z",
            "command": ["ghostbench", "bench", "--device", "cpu"],
            "options": {"device": "cpu"},
            "env": run_env if run_env is not None else env(),
            "plan": [{"cell": c.cell.key} for c in cells],
            "skipped": [{"cell": key, "reason": why} for key, why in skipped],
            "overhead_ns": 50,
        }
    )
    for c in cells:
        row = dict.fromkeys(set(LATENCY_COLUMNS) - {"schema_version", "run_id"}) | {
            "cell": c.cell.key,
            "model": c.model,
            "family": "c-ghost",
            "backend": c.backend,
            "runtime": c.runtime,
            "runtime_version": c.runtime_version,
            "device": c.device,
            "device_name": c.device_name,
            "precision": c.precision,
            "threads": c.threads,
            "flags": ";".join(c.flags),
            "error": c.error,
            "started_at": "2026-11-23T12:00:00Z",
            "duration_s": 1.0,
        }
        if c.error:
            store.append({**row, "status": "error"})
            continue
        windows = c.windows(rng)
        s = stats.summarize(windows)
        row |= {
            "status": "ok",
            "median_ms": s.median_ns / 1e6,
            "p90_ms": s.p90_ns / 1e6,
            "p99_ms": s.p99_ns / 1e6,
            "mean_ms": s.mean_ns / 1e6,
            "std_ms": s.std_ns / 1e6,
            "min_ms": s.min_ns / 1e6,
            "max_ms": s.max_ns / 1e6,
            "cv": s.cv,
            "ci_low_ms": s.ci_low_ns / 1e6,
            "ci_high_ms": s.ci_high_ns / 1e6,
            "n": s.n,
            "windows": s.windows,
            "window_spread": s.window_spread,
            "first_ms": s.max_ns / 1e6,
            "load_ms": 10.0,
        }
        frame = samples_frame(path.name, c.cell.key, windows) if with_samples else None
        probe = {"load_avg": [load_avg, load_avg, load_avg]}
        windows_probed = [{"window": i, "env_before": probe, "env_after": probe} for i in range(len(windows))]
        store.append(row, frame, {"windows": windows_probed})
    return path


# ---- a real runner, made slower on purpose ----------------------------------------------------------

SLOWDOWN_ENV = "GHOSTBENCH_TEST_SLOWDOWN"


class SlowedRunner:
    """Wraps a real runner: each ``run_once`` runs the real inference, then busy-waits for
    ``fraction`` of the time that inference took, and reports both. A cell measured through it is
    ``1 + fraction`` times slower in every iteration, measured by the real clock (no edited numbers).
    """

    def __init__(self, inner: object, fraction: float) -> None:
        self._inner = inner
        self._fraction = fraction

    @property
    def runtime(self) -> str:
        return self._inner.runtime

    def version(self) -> str:
        return self._inner.version()

    def load(self, cell: Cell, artifact: object) -> None:
        self._inner.load(cell, artifact)

    def prepare(self, seed: int) -> None:
        self._inner.prepare(seed)

    def run_once(self) -> int:
        ns = self._inner.run_once()
        start = time.perf_counter_ns()
        end = start + round(ns * self._fraction)
        now = start
        while now < end:
            now = time.perf_counter_ns()
        return ns + now - start

    def close(self) -> None:
        self._inner.close()


def slow_worker_main() -> int:
    """A ``ghostbench.worker.process`` whose runners are wrapped in :class:`SlowedRunner`, the
    fraction read from ``$GHOSTBENCH_TEST_SLOWDOWN``. Everything else is the real worker."""
    import ghostbench.runners as runners
    from ghostbench.worker import process as worker

    fraction = float(os.environ[SLOWDOWN_ENV])
    real_create = runners.create
    runners.create = lambda backend: SlowedRunner(real_create(backend), fraction)
    return worker.main()


def slow_python(folder: Path) -> Path:
    """An executable that ``worker.spawn(python=...)`` can start in place of the interpreter: it
    ignores ``-m ghostbench.worker.process`` and runs :func:`slow_worker_main` instead."""
    script = folder / "slow-python"
    script.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(__file__)}\n")
    script.chmod(0o755)
    return script


if __name__ == "__main__":
    sys.exit(slow_worker_main())
