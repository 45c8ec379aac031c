"""Run noise: how far a cell's run median moves between runs of unchanged code on one machine,
beyond what the run's own windows show. ``compare`` adds it to each cell's window noise.

The windows of one run are seconds to minutes apart; the runs ``compare`` is given may be days
apart, and a shared machine drifts on every time scale. Measured on the shared 2-CPU development
machine, 11 back-to-back quick runs (3 rounds, 6 cells, about 6 minutes in all): per cell, the
standard deviation of the 11 run medians was 2.6 to 7.7 % where the windows of each run predicted
1.0 to 3.1 %, and judged on window noise alone, 4 of 60 cells in the 10 A/A comparisons were
flagged (one run's ONNX Runtime cells were all 8 to 11 % slower than the run before). Nothing
inside two runs tells such a shift from a regression; a series of runs of unchanged code does. So
the run noise is measured once per machine (``make calibrate``, which runs
``benchmarks/aa_specificity.py``) and kept beside the baseline as ``noise.json``.

Estimator, over the cells measured fairly in every run of the series (status ok, two or more
windows, not throttled, no other work on the machine: what ``compare`` would judge):
with m_r the log of the cell's median in run r and v_r the variance of the logs of run r's window
medians, a cell's run noise is sqrt(max(0, var(m_r) - mean(v_r) / k)) (k windows per run): the part
of the run medians' variance that the windows do not explain. The machine's figure is the root mean
square over cells. A fraction, e.g. 0.03 for 3 %.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ghostbench.bench.store import load_run, windows_by_cell
from ghostbench.core import atomic
from ghostbench.core.errors import GhostbenchError
from ghostbench.worker.env import busy

NOISE_FILE = "noise.json"
MIN_RUNS = 3  # two runs give one difference: no spread worth the name
FORMAT = 1


@dataclass(frozen=True)
class RunNoise:
    """The machine's run noise (``sigma``, a fraction) and what it was measured from."""

    sigma: float
    runs: int
    cells: int
    device_names: tuple[str, ...]
    run_ids: tuple[str, ...]
    per_cell: dict[str, float]

    def describe(self) -> str:
        """``3.1 % (11 runs of 6 cells on AMD EPYC ...)``."""
        names = ", ".join(self.device_names) or "unknown hardware"
        return f"{100 * self.sigma:.1f} % ({self.runs} runs of {self.cells} cells on {names})"

    def to_dict(self) -> dict:
        return {"format": FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> RunNoise:
        if not isinstance(data, dict):
            raise ValueError(f"a run-noise record is a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown format {data.get('format')!r} (expected {FORMAT})")
        sigma = float(data["sigma"])
        if not 0 <= sigma < 1:  # NaN fails this too
            raise ValueError(f"sigma must be a fraction in [0, 1), got {sigma}")
        return cls(
            sigma=sigma,
            runs=int(data["runs"]),
            cells=int(data["cells"]),
            device_names=tuple(str(n) for n in data["device_names"]),
            run_ids=tuple(str(r) for r in data["run_ids"]),
            per_cell={str(k): float(v) for k, v in data["per_cell"].items()},
        )


def _log_medians(
    run: dict, latency: pd.DataFrame, samples: pd.DataFrame
) -> dict[str, tuple[float, np.ndarray]]:
    """cell -> (log of its median over all samples, logs of its window medians), for cells measured
    fairly: ok, not throttled, on a machine nothing else kept busy (what ``compare`` would judge)."""
    fair = {
        str(row.cell)
        for row in latency.itertuples()
        if row.status == "ok"
        and "throttled" not in str(row.flags or "").split(";")
        and not busy(run, str(row.cell), str(row.device))
    }
    out = {}
    for cell, windows in windows_by_cell(samples).items():
        medians = np.array([np.median(w) for w in windows])
        median = float(np.median(np.concatenate(windows)))
        if cell in fair and median > 0 and len(medians) >= 2 and (medians > 0).all():
            out[cell] = (float(np.log(median)), np.log(medians))
    return out


def estimate(runs: Sequence[str | os.PathLike]) -> RunNoise:
    """The run noise of a series of runs of unchanged code on one machine (module docstring)."""
    if len(runs) < MIN_RUNS:
        raise GhostbenchError(
            f"the run noise needs {MIN_RUNS} or more runs of the same code, got {len(runs)}"
        )
    per_run, names, ids = [], set(), []
    for path in runs:
        run, latency, samples = load_run(path)
        per_run.append(_log_medians(run, latency, samples))
        names |= {str(n) for n in latency["device_name"].dropna() if str(n)}
        ids.append(str(run.get("run_id") or Path(path).name))
    if len(names) > 1:
        raise GhostbenchError(f"the runs were measured on different hardware: {', '.join(sorted(names))}")
    common = sorted(set.intersection(*(set(r) for r in per_run)))
    if not common:
        raise GhostbenchError(
            "no cell was measured fairly in every run: each needs raw samples of two or more windows "
            "(--rounds 2 or more), no throttling and an otherwise idle machine"
        )
    per_cell = {}
    for cell in common:
        medians = np.array([r[cell][0] for r in per_run])
        explained = np.mean([np.var(r[cell][1], ddof=1) / len(r[cell][1]) for r in per_run])
        per_cell[cell] = float(np.sqrt(max(0.0, np.var(medians, ddof=1) - explained)))
    sigma = float(np.sqrt(np.mean(np.square(list(per_cell.values())))))
    return RunNoise(sigma, len(per_run), len(common), tuple(sorted(names)), tuple(ids), per_cell)


def load(path: str | os.PathLike) -> RunNoise:
    """A ``noise.json`` file; :class:`GhostbenchError` when it is missing or not one."""
    try:
        return RunNoise.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GhostbenchError(
            f"{path}: not a run-noise file ({exc}); measure it again: make calibrate"
        ) from None


def read(folder: str | os.PathLike) -> RunNoise | None:
    """The ``noise.json`` kept in ``folder`` (a baseline), or ``None`` when there is none."""
    path = Path(folder) / NOISE_FILE
    return load(path) if path.is_file() else None


def write(path: str | os.PathLike, noise: RunNoise) -> Path:
    """Write ``noise`` to ``path`` (atomically)."""
    return atomic.write_text(path, json.dumps(noise.to_dict(), indent=2) + "\n")
