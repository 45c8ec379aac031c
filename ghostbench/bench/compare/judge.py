"""Judging: match the cells of two runs, measure each ratio, pool the window noise, apply the rule.

``compare_runs`` is the whole comparison; the rule itself is in ``ghostbench.bench.compare``'s
docstring and :data:`~ghostbench.bench.compare.result.RULE`."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ghostbench.bench import run_noise as run_noise_file
from ghostbench.bench.compare.environment import environment_differences
from ghostbench.bench.compare.machine import machine_speed
from ghostbench.bench.compare.result import (
    BASELINE_FAILED,
    DEFAULT_THRESHOLD,
    FAILED,
    IMPROVEMENT,
    NOT_COMPARABLE,
    ONLY_BASELINE,
    ONLY_NEW,
    REGRESSION,
    SEED,
    STATUS_ORDER,
    UNCHANGED,
    CellComparison,
    Comparison,
    RunInfo,
    Z,
    as_float,
    as_text,
)
from ghostbench.bench.compare.stats import d2, mann_whitney_p, ratio_interval
from ghostbench.bench.store import load_run, windows_by_cell
from ghostbench.core.errors import GhostbenchError
from ghostbench.core.stats import window_spread
from ghostbench.worker.env import busy

# Per-cell columns that must agree for a fair comparison, with how a difference is described.
FAIRNESS_COLUMNS: dict[str, str] = {
    "device_name": "hardware",
    "runtime": "runtime",
    "runtime_version": "runtime version",
}
SINGLE_WINDOW = (
    "one window per run: nothing shows how far this machine moves a run's median "
    "(measure with --rounds 2 or more)"
)


def decide(low: float, high: float, margin: float) -> str:
    """The decision rule: the whole interval must clear the margin."""
    if low > 1 + margin:
        return REGRESSION
    if high < 1 - margin:
        return IMPROVEMENT
    return UNCHANGED


def _flags(row: pd.Series) -> set[str]:
    return {f for f in as_text(row.get("flags")).split(";") if f}


def _identity(key: str, row: pd.Series) -> dict:
    threads = row.get("threads")
    return {
        "cell": key,
        "model": as_text(row.get("model")),
        "backend": as_text(row.get("backend")),
        "device": as_text(row.get("device")),
        "precision": as_text(row.get("precision")),
        "threads": int(threads) if threads is not None and not pd.isna(threads) else None,
    }


def _unfair(key: str, base: pd.Series, new: pd.Series, base_run: dict, new_run: dict) -> str:
    """Why the two rows of a cell cannot be compared fairly ('' when they can)."""
    reasons = []
    for column, what in FAIRNESS_COLUMNS.items():
        b, n = as_text(base.get(column)), as_text(new.get(column))
        if b != n:
            reasons.append(f"{what} differs: {b or '–'} → {n or '–'}")
    for side, row, run in (("baseline", base, base_run), ("new run", new, new_run)):
        if "throttled" in _flags(row):
            reasons.append(f"throttled in the {side}")
        crowded = busy(run, key, as_text(row.get("device")))
        if crowded:
            reasons.append(f"machine busy in the {side}: {crowded}")
    return "; ".join(reasons)


@dataclass(frozen=True)
class _Pending:
    """A matched cell with its ratio and interval, waiting for the run-wide window noise."""

    ident: dict
    numbers: dict  # CellComparison fields known so far
    low: float
    high: float
    windows: tuple[int, int]  # (baseline, new)
    spreads: tuple[float, float]
    unfair: str

    def sigmas(self) -> list[float]:
        """This cell's window noise in each run that has two or more windows (and a spread)."""
        pairs = zip(self.spreads, self.windows, strict=True)
        return [spread / d2(k) for spread, k in pairs if k >= 2 and math.isfinite(spread)]


def _from_samples(
    ident: dict, base_w: list[np.ndarray], new_w: list[np.ndarray], unfair: str, rng: np.random.Generator
) -> _Pending:
    base, new = np.concatenate(base_w), np.concatenate(new_w)
    ratio, low, high = ratio_interval(base, new, rng=rng)
    numbers = {
        "baseline_ms": float(np.median(base)) / 1e6,
        "new_ms": float(np.median(new)) / 1e6,
        "ratio": ratio,
        "ratio_low": low,
        "ratio_high": high,
        "p_value": mann_whitney_p(base, new),
        "baseline_n": len(base),
        "new_n": len(new),
        "method": "samples",
    }
    windows = (len(base_w), len(new_w))
    spreads = (window_spread(base_w), window_spread(new_w))
    return _Pending(ident, numbers, low, high, windows, spreads, unfair)


def _from_summaries(ident: dict, base: pd.Series, new: pd.Series, unfair: str) -> _Pending | CellComparison:
    """Without raw samples: the ratio of the rows' medians, bounded by their own 95% intervals
    (new low / baseline high to new high / baseline low, wider than a joint interval)."""
    b, n = as_float(base.get("median_ms")), as_float(new.get("median_ms"))
    b_lo, b_hi = as_float(base.get("ci_low_ms")), as_float(base.get("ci_high_ms"))
    n_lo, n_hi = as_float(new.get("ci_low_ms")), as_float(new.get("ci_high_ms"))
    if not all(math.isfinite(v) and v > 0 for v in (b, n, b_lo, b_hi, n_lo, n_hi)):
        return CellComparison(
            **ident, status=NOT_COMPARABLE, reason="no samples and no confidence interval in a row"
        )
    low, high = n_lo / b_hi, n_hi / b_lo
    numbers = {
        "baseline_ms": b,
        "new_ms": n,
        "ratio": n / b,
        "ratio_low": low,
        "ratio_high": high,
        "baseline_n": _int_or_none(base.get("n")),
        "new_n": _int_or_none(new.get("n")),
        "method": "summaries",
        "reason": "no raw samples: interval from the rows' own 95% intervals",
    }
    windows = (_int_or_none(base.get("windows")) or 0, _int_or_none(new.get("windows")) or 0)
    spreads = (as_float(base.get("window_spread")), as_float(new.get("window_spread")))
    return _Pending(ident, numbers, low, high, windows, spreads, unfair)


def _int_or_none(value: object) -> int | None:
    x = as_float(value)
    return int(x) if math.isfinite(x) else None


def _measure_cell(
    key: str,
    base: pd.Series,
    new: pd.Series,
    base_w: list[np.ndarray] | None,
    new_w: list[np.ndarray] | None,
    runs: tuple[dict, dict],
    rng: np.random.Generator,
) -> _Pending | CellComparison:
    """The cell's ratio and interval, or its final listing when there is nothing to judge."""
    ident = _identity(key, new)
    if as_text(base.get("status")) != "ok":
        why = as_text(base.get("error")).splitlines()
        reason = f"failed in the baseline: {why[0] if why else 'error'}"
        return CellComparison(**ident, status=BASELINE_FAILED, reason=reason)
    if as_text(new.get("status")) != "ok":
        why = as_text(new.get("error")).splitlines()
        return CellComparison(
            **ident,
            status=FAILED,
            baseline_ms=as_float(base.get("median_ms")),
            reason=f"fails in the new run: {why[0] if why else 'error'}",
        )
    unfair = _unfair(key, base, new, *runs)
    if base_w and new_w:
        if min(np.median(np.concatenate(w)) for w in (base_w, new_w)) <= 0:
            reason = "a median of 0 ns: below the clock's resolution"
            return CellComparison(**ident, status=NOT_COMPARABLE, reason=reason)
        return _from_samples(ident, base_w, new_w, unfair, rng)
    return _from_summaries(ident, base, new, unfair)


def _judge(pending: _Pending, pooled: float, threshold: float, run_sigma: float) -> CellComparison:
    """The decision rule on one cell, given the machine's typical window noise ``pooled`` and its
    run noise ``run_sigma``."""
    k_base, k_new = pending.windows
    sigmas = [*pending.sigmas(), *([pooled] if math.isfinite(pooled) else [])]
    if min(k_base, k_new) < 2 or not sigmas:
        why = SINGLE_WINDOW if min(k_base, k_new) < 2 else "no window spread recorded"
        # An unfair comparison (other runtime, a busy machine) is the reason that matters more.
        fields = {**pending.numbers, "status": NOT_COMPARABLE, "reason": pending.unfair or why}
        return CellComparison(**pending.ident, **fields)
    sigma = max(sigmas)
    noise = Z * math.sqrt(sigma**2 * (1 / k_base + 1 / k_new) + 2 * run_sigma**2)
    margin = max(threshold, noise)
    status = decide(pending.low, pending.high, margin)
    fields = {**pending.numbers, "window_sigma": sigma, "noise": noise, "margin": margin, "status": status}
    if pending.unfair:
        fields |= {"status": NOT_COMPARABLE, "reason": pending.unfair}
    return CellComparison(**pending.ident, **fields)


def _run_info(path: Path, run: dict, latency: pd.DataFrame) -> RunInfo:
    names = sorted({as_text(v) for v in latency["device_name"].dropna() if as_text(v)})
    return RunInfo(
        path=str(path),
        run_id=as_text(run.get("run_id")) or path.name,
        status=as_text(run.get("status")) or "unknown",
        device_names=tuple(names),
    )


def _describe_devices(latency: pd.DataFrame) -> str:
    parts = []
    for device, rows in latency.groupby("device", sort=True):
        names = sorted({as_text(v) for v in rows["device_name"].dropna() if as_text(v)})
        parts.append(f"{device} ({', '.join(names)})" if names else str(device))
    return ", ".join(parts) or "nothing"


def _check_same_machine(
    base_info: RunInfo, new_info: RunInfo, base: pd.DataFrame, new: pd.DataFrame, common: list[str]
) -> None:
    """Refuse runs that cannot be compared at all: different devices or different hardware."""
    base_dev, new_dev = set(base["device"].dropna()), set(new["device"].dropna())
    if base_dev and new_dev and not base_dev & new_dev:
        raise GhostbenchError(
            f"the runs measured different devices: baseline {base_info.run_id} ran on "
            f"{_describe_devices(base)}, new run {new_info.run_id} on {_describe_devices(new)}; "
            "compare a run with the baseline of its own device (results/baselines/<device>)"
        )
    if not common:
        raise GhostbenchError(
            f"the runs share no cell: baseline {base_info.run_id} has {len(base)} cells, "
            f"new run {new_info.run_id} has {len(new)}; nothing to compare"
        )
    b = base.set_index("cell").loc[common, "device_name"].map(as_text)
    n = new.set_index("cell").loc[common, "device_name"].map(as_text)
    named = (b != "") & (n != "")  # a failed cell may not know its device's name
    b, n = b[named], n[named]
    if len(b) and (b != n).all():
        raise GhostbenchError(
            f"the runs were measured on different hardware: baseline {base_info.run_id} on "
            f"{', '.join(sorted(set(b))) or 'unknown'}, new run {new_info.run_id} on "
            f"{', '.join(sorted(set(n))) or 'unknown'}; latencies of different machines are not "
            "comparable: refresh the baseline on this machine (make baseline DEVICE=...)"
        )


def _skip_reasons(run: dict) -> dict[str, str]:
    skipped = run.get("skipped")
    if not isinstance(skipped, list):
        return {}
    return {str(s.get("cell")): as_text(s.get("reason")) for s in skipped if isinstance(s, dict)}


def _run_noise(base_path: Path, base_info: RunInfo, given: float | None) -> tuple[float, str, list[str]]:
    """(run noise, where it came from, notes): ``given``, else the baseline's ``noise.json`` when it
    was measured on the baseline's hardware, else 0."""
    if given is not None:
        if not 0 <= given < 1:
            raise GhostbenchError(f"--run-noise is a fraction in [0, 1), e.g. 0.03 for 3 %; got {given}")
        return given, "given (--run-noise)", []
    noise = run_noise_file.read(base_path)
    if noise is None:
        return 0.0, f"none (no {run_noise_file.NOISE_FILE} in the baseline: windows alone)", []
    if base_info.device_names and set(noise.device_names) != set(base_info.device_names):
        note = (
            f"{run_noise_file.NOISE_FILE} in the baseline was measured on {', '.join(noise.device_names)}, "
            f"the baseline on {', '.join(base_info.device_names)}: ignored (measure it again: make calibrate)"
        )
        return 0.0, "none (noise.json of other hardware)", [note]
    return noise.sigma, f"{run_noise_file.NOISE_FILE} in the baseline: {noise.describe()}", []


def compare_runs(
    baseline_dir: str | os.PathLike,
    new_dir: str | os.PathLike,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    run_noise: float | None = None,
    seed: int = SEED,
    judge_anyway: bool = False,
) -> Comparison:
    """Compare every cell of ``new_dir`` with ``baseline_dir``. ``run_noise`` (a fraction) overrides
    the baseline's ``noise.json``; without either the runs are judged on their windows alone.

    Raises :class:`GhostbenchError` (exit 2) for unreadable runs, runs of different devices or
    hardware, machines whose speed probes differ (unless ``judge_anyway``), runs with no cell in
    common, and when no cell could be compared fairly.
    """
    if not 0 <= threshold < 1:
        raise GhostbenchError(f"--threshold is a fraction in [0, 1), e.g. 0.05 for 5 %; got {threshold}")
    base_path, new_path = Path(baseline_dir), Path(new_dir)
    base_run, base_lat, base_samples = load_run(base_path)
    new_run, new_lat, new_samples = load_run(new_path)
    base_info, new_info = _run_info(base_path, base_run, base_lat), _run_info(new_path, new_run, new_lat)
    base_rows = {str(k): r for k, r in base_lat.set_index("cell").iterrows()}
    new_rows = {str(k): r for k, r in new_lat.set_index("cell").iterrows()}
    common = [k for k in base_rows if k in new_rows]
    _check_same_machine(base_info, new_info, base_lat, new_lat, common)
    run_sigma, run_noise_source, noise_notes = _run_noise(base_path, base_info, run_noise)
    speed = machine_speed(base_run, new_run, threshold=threshold, run_sigma=run_sigma)
    if speed.differ and not judge_anyway:
        raise GhostbenchError(
            f"not comparable: {speed.describe()}; on another machine speed every cell would read as "
            "slower or faster: compare runs of machines that run the probe alike, or pass --judge-anyway"
        )
    noise_notes = [*noise_notes, speed.describe() + (" (judged anyway)" if speed.differ else "")]

    base_w, new_w = windows_by_cell(base_samples), windows_by_cell(new_samples)
    rng = np.random.default_rng(seed)
    runs = (base_run, new_run)
    measured = [
        _measure_cell(key, base_rows[key], new_rows[key], base_w.get(key), new_w.get(key), runs, rng)
        for key in sorted(common)
    ]
    pending = [m for m in measured if isinstance(m, _Pending)]
    fair = [sigma for p in pending if not p.unfair for sigma in p.sigmas()]
    pooled = float(np.median(fair)) if fair else float("nan")
    cells = [_judge(m, pooled, threshold, run_sigma) if isinstance(m, _Pending) else m for m in measured]
    new_skips, base_skips = _skip_reasons(new_run), _skip_reasons(base_run)
    for key in sorted(set(base_rows) - set(new_rows)):
        why = new_skips.get(key)
        reason = f"skipped in the new run: {why}" if why else "not measured in the new run"
        cells.append(CellComparison(**_identity(key, base_rows[key]), status=ONLY_BASELINE, reason=reason))
    for key in sorted(set(new_rows) - set(base_rows)):
        why = base_skips.get(key)
        reason = f"skipped in the baseline: {why}" if why else "not in the baseline"
        cells.append(CellComparison(**_identity(key, new_rows[key]), status=ONLY_NEW, reason=reason))

    judged = [c for c in cells if c.status in (REGRESSION, IMPROVEMENT, UNCHANGED, FAILED)]
    if not judged:
        reasons = sorted({c.reason for c in cells if c.reason})
        shown = "; ".join(reasons[:2]) + ("; …" if len(reasons) > 2 else "")
        raise GhostbenchError(f"no cell could be compared fairly ({len(cells)} cells): {shown}")
    notes = noise_notes + [
        f"the {side} run has status {info.status}: it may lack cells"
        for side, info in (("baseline", base_info), ("new", new_info))
        if info.status not in ("complete", "unknown")
    ]
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    cells.sort(key=lambda c: (order[c.status], c.cell))
    return Comparison(
        baseline=base_info,
        new=new_info,
        threshold=threshold,
        cells=tuple(cells),
        run_noise=run_sigma,
        run_noise_source=run_noise_source,
        environment=environment_differences(base_run.get("env") or {}, new_run.get("env") or {}),
        notes=tuple(notes),
        seed=seed,
    )
