"""Regression check between two stored runs: which cells got slower or faster beyond the noise.

``compare`` reads only stored results (``docs/results-schema.md``) and is otherwise a pure function
of them. Cells are matched by their key (model, backend, device, precision, threads, options). For
each matched cell:

- the *ratio* is median(new) / median(baseline) over all timed samples;
- its 95% interval comes from a bootstrap of both medians: :data:`RESAMPLES` draws (fixed seed) from
  the exact bootstrap distribution of each run's sample median, whose CDF at the k-th order
  statistic is P(Binomial(n, k/n) >= (n + 1) // 2). That is Efron's percentile bootstrap of the
  pooled samples without building any resample, so a cell with 100 000 samples costs milliseconds;
- the interval only knows the samples, and a run's median moves more than that between runs: each
  window is a fresh process at another moment (on the shared 2-CPU development machine, window
  medians of one cell had a standard deviation of 2-4 % on an idle machine). So the *window noise*
  sigma of a cell is the larger of its two runs' window spread ((max - min) / median of the window
  medians) divided by d2(windows), the expected range of that many normal draws (1.128 for 2,
  1.693 for 3), and at least the median of that figure over all fairly compared cells (two windows
  that happen to agree prove little). The windows of one run are seconds to minutes apart and
  miss slower drift, so the machine's *run noise* sigma_run (``run_noise.py``: measured once per
  machine from a series of runs and kept in the baseline's ``noise.json``; 0 without one) adds to
  it. The *noise* is Z sqrt(sigma^2 (1/k_base + 1/k_new) + 2 sigma_run^2) with :data:`Z` = 2.5: how
  far the run medians of an unchanged cell may drift apart;
- the *margin* is max(threshold, noise). The cell is a **regression** when the interval's lower
  bound is above 1 + margin, an **improvement** when its upper bound is below 1 - margin, and
  unchanged otherwise. The Mann-Whitney U p-value is reported beside it, not used: with thousands
  of samples it calls every shift of a noisy machine significant.

A run with one window of a cell shows nothing of how its median moves, and its CV is no stand-in:
in 10 A/A comparisons of one-window quick runs on the development machine, 4 of 52 cells moved
10-23 % with CVs of 4-15 %. Such cells are listed as not comparable.

A cell cannot be judged fairly when the two rows differ in hardware (``device_name``), runtime or
runtime version, when either row was flagged ``throttled``, or when the machine was busy while
either run measured it (a 1-minute load average above the logical CPU count + 0.5 in the probes that
``run.json`` keeps around every window: other work shared the CPUs, which moved whole runs by 2x on
the shared development machine). Such cells are listed as ``not_comparable`` with the reason and
never counted as regressions. A cell that ran in the baseline and fails in the new run counts as a
regression (its latency is unbounded). Runs of different devices, or of different hardware
throughout, are a usage error, not a regression.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ghostbench.bench import run_noise as run_noise_file
from ghostbench.bench.store import load_run, windows_by_cell
from ghostbench.core.errors import GhostbenchError
from ghostbench.core.stats import window_spread
from ghostbench.reports.fmt import finite
from ghostbench.worker.env import busy

DEFAULT_THRESHOLD = 0.05
CONFIDENCE = 0.95
RESAMPLES = 4000
SEED = 0
# How many standard deviations of the run-to-run noise a change must exceed: 2.5 leaves about 1.2 %
# false alarms per unchanged cell (two-sided, normal), i.e. under one in a 10 x 6-cell A/A series.
Z = 2.5

REGRESSION = "regression"
IMPROVEMENT = "improvement"
UNCHANGED = "unchanged"
FAILED = "failed"  # ran in the baseline, error in the new run
BASELINE_FAILED = "baseline_failed"  # error in the baseline: nothing to compare against
NOT_COMPARABLE = "not_comparable"
ONLY_BASELINE = "only_baseline"
ONLY_NEW = "only_new"
# Display order: what needs attention first.
STATUS_ORDER: tuple[str, ...] = (
    REGRESSION,
    FAILED,
    IMPROVEMENT,
    NOT_COMPARABLE,
    BASELINE_FAILED,
    ONLY_BASELINE,
    ONLY_NEW,
    UNCHANGED,
)
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
# run.json env entries worth listing when they differ (dotted paths into ``env``).
ENV_KEYS: tuple[str, ...] = (
    "cpu.model",
    "cpu.logical_cores",
    "cpu.governor",
    "gpu.driver",
    "torch.version",
    "torch.cuda",
    "torch.cudnn",
    "host.python",
)


@dataclass(frozen=True)
class CellComparison:
    """One matched (or unmatched) cell. Latencies in ms; ratio, interval and margins as fractions
    of 1 (``ratio`` 1.10 is 10 % slower)."""

    cell: str
    status: str
    model: str = ""
    backend: str = ""
    device: str = ""
    precision: str = ""
    threads: int | None = None
    baseline_ms: float | None = None
    new_ms: float | None = None
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None
    p_value: float | None = None
    window_sigma: float | None = None
    noise: float | None = None
    margin: float | None = None
    baseline_n: int | None = None
    new_n: int | None = None
    method: str = ""  # "samples" (bootstrap) or "summaries" (the rows' own intervals)
    reason: str = ""


@dataclass(frozen=True)
class EnvDifference:
    """One entry of the environment that differs between the runs (``run.json`` ``env``)."""

    key: str
    baseline: str
    new: str


@dataclass(frozen=True)
class RunInfo:
    path: str
    run_id: str
    status: str
    device_names: tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    baseline: RunInfo
    new: RunInfo
    threshold: float
    cells: tuple[CellComparison, ...]
    run_noise: float = 0.0
    run_noise_source: str = ""
    environment: tuple[EnvDifference, ...] = ()
    notes: tuple[str, ...] = ()
    confidence: float = CONFIDENCE
    resamples: int = RESAMPLES
    seed: int = SEED
    counts: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        counts = {s: 0 for s in STATUS_ORDER}
        for c in self.cells:
            counts[c.status] += 1
        object.__setattr__(self, "counts", counts)

    def of(self, status: str) -> tuple[CellComparison, ...]:
        return tuple(c for c in self.cells if c.status == status)

    @property
    def regressed(self) -> bool:
        """A significant slowdown or a newly failing cell: the run fails the gate (exit 1)."""
        return bool(self.counts[REGRESSION] or self.counts[FAILED])

    @property
    def exit_code(self) -> int:
        return 1 if self.regressed else 0

    def to_dict(self) -> dict:
        """JSON-ready: missing numbers are ``null``, never NaN."""
        data = asdict(self)
        data["exit_code"] = self.exit_code
        data["z"] = Z
        data["rule"] = RULE
        return _json_safe(data)


RULE = (
    f"ratio = median(new) / median(baseline), bootstrap {CONFIDENCE:.0%} interval; "
    "window noise sigma = max over both runs of window spread / d2(windows), at least the median over cells; "
    f"noise = {Z} sqrt(sigma^2 (1/k_base + 1/k_new) + 2 run_noise^2); margin = max(threshold, noise); "
    "regression if the interval's lower bound > 1 + margin, improvement if its upper bound < 1 - margin; "
    "one window, other hardware or runtime versions, throttling or a busy machine: listed, not judged"
)


def _json_safe(value: object) -> object:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---- statistics: pure functions of samples -------------------------------------------------------


def median_draws(samples: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` draws from the bootstrap distribution of the sample median of ``samples``.

    The median of a resample (its ``(n + 1) // 2``-th order statistic) is at most x_(k) exactly when
    at least that many of its n draws are at most x_(k), a Binomial(n, k/n) event; drawing from
    that CDF is the bootstrap with infinitely many resamples, sampled ``size`` times.
    """
    from scipy import stats as sps

    x = np.sort(np.asarray(samples, dtype=np.float64))
    n = len(x)
    if n == 0:
        raise ValueError("no samples")
    rank = (n + 1) // 2
    cdf = sps.binom.sf(rank - 1, n, np.arange(1, n + 1) / n)
    index = np.searchsorted(cdf, rng.random(size), side="left")
    return x[np.minimum(index, n - 1)]


def ratio_interval(
    baseline: np.ndarray,
    new: np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    rng: np.random.Generator | None = None,
) -> tuple[float, float, float]:
    """(median ratio new/baseline, lower, upper bound of its bootstrap percentile interval)."""
    rng = rng if rng is not None else np.random.default_rng(SEED)
    base_med, new_med = float(np.median(baseline)), float(np.median(new))
    ratios = median_draws(new, resamples, rng) / median_draws(baseline, resamples, rng)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return new_med / base_med, float(low), float(high)


@functools.lru_cache(maxsize=64)
def d2(k: int) -> float:
    """Expected range of ``k`` standard normal draws (the quality-control constant d2: 1.128 for 2
    windows, 1.693 for 3), so that a window spread / d2(k) estimates the standard deviation of one
    window's median."""
    from scipy import integrate
    from scipy import stats as sps

    value, _ = integrate.quad(lambda x: 1 - sps.norm.cdf(x) ** k - sps.norm.sf(x) ** k, -np.inf, np.inf)
    return float(value)


def decide(low: float, high: float, margin: float) -> str:
    """The decision rule: the whole interval must clear the margin."""
    if low > 1 + margin:
        return REGRESSION
    if high < 1 - margin:
        return IMPROVEMENT
    return UNCHANGED


def mann_whitney_p(baseline: np.ndarray, new: np.ndarray) -> float:
    from scipy import stats as sps

    return float(sps.mannwhitneyu(baseline, new, alternative="two-sided").pvalue)


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def _float(value: object) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
    return x


def _dig(env: dict, dotted: str) -> str:
    value: object = env
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    if isinstance(value, dict):
        return "unavailable" if "unavailable" in value else ""
    return _text(value)


def _gpu_names(env: dict) -> str:
    gpu = env.get("gpu")
    devices = gpu.get("devices") if isinstance(gpu, dict) else None
    if not isinstance(devices, list):
        return ""
    return ", ".join(_text(d.get("name")) for d in devices if isinstance(d, dict))


def environment_differences(baseline_env: dict, new_env: dict) -> tuple[EnvDifference, ...]:
    """Entries of ``run.json`` ``env`` that differ: hardware, drivers, library versions."""
    found = []
    keys = [*ENV_KEYS, *(f"versions.{k}" for k in sorted(_keys(baseline_env, new_env, "versions")))]
    for key in keys:
        b, n = _dig(baseline_env, key), _dig(new_env, key)
        if b != n:
            found.append(EnvDifference(key, b or "–", n or "–"))
    b, n = _gpu_names(baseline_env), _gpu_names(new_env)
    if b != n:
        found.append(EnvDifference("gpu.devices", b or "–", n or "–"))
    return tuple(found)


def _keys(a: dict, b: dict, section: str) -> set[str]:
    keys: set[str] = set()
    for env in (a, b):
        part = env.get(section)
        if isinstance(part, dict) and "unavailable" not in part:
            keys |= set(part)
    return keys


def _flags(row: pd.Series) -> set[str]:
    return {f for f in _text(row.get("flags")).split(";") if f}


def _identity(key: str, row: pd.Series) -> dict:
    threads = row.get("threads")
    return {
        "cell": key,
        "model": _text(row.get("model")),
        "backend": _text(row.get("backend")),
        "device": _text(row.get("device")),
        "precision": _text(row.get("precision")),
        "threads": int(threads) if threads is not None and not pd.isna(threads) else None,
    }


def _unfair(key: str, base: pd.Series, new: pd.Series, base_run: dict, new_run: dict) -> str:
    """Why the two rows of a cell cannot be compared fairly ('' when they can)."""
    reasons = []
    for column, what in FAIRNESS_COLUMNS.items():
        b, n = _text(base.get(column)), _text(new.get(column))
        if b != n:
            reasons.append(f"{what} differs: {b or '–'} → {n or '–'}")
    for side, row, run in (("baseline", base, base_run), ("new run", new, new_run)):
        if "throttled" in _flags(row):
            reasons.append(f"throttled in the {side}")
        crowded = busy(run, key, _text(row.get("device")))
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
    b, n = _float(base.get("median_ms")), _float(new.get("median_ms"))
    b_lo, b_hi = _float(base.get("ci_low_ms")), _float(base.get("ci_high_ms"))
    n_lo, n_hi = _float(new.get("ci_low_ms")), _float(new.get("ci_high_ms"))
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
    spreads = (_float(base.get("window_spread")), _float(new.get("window_spread")))
    return _Pending(ident, numbers, low, high, windows, spreads, unfair)


def _int_or_none(value: object) -> int | None:
    x = _float(value)
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
    if _text(base.get("status")) != "ok":
        why = _text(base.get("error")).splitlines()
        reason = f"failed in the baseline: {why[0] if why else 'error'}"
        return CellComparison(**ident, status=BASELINE_FAILED, reason=reason)
    if _text(new.get("status")) != "ok":
        why = _text(new.get("error")).splitlines()
        return CellComparison(
            **ident,
            status=FAILED,
            baseline_ms=_float(base.get("median_ms")),
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
    names = sorted({_text(v) for v in latency["device_name"].dropna() if _text(v)})
    return RunInfo(
        path=str(path),
        run_id=_text(run.get("run_id")) or path.name,
        status=_text(run.get("status")) or "unknown",
        device_names=tuple(names),
    )


def _describe_devices(latency: pd.DataFrame) -> str:
    parts = []
    for device, rows in latency.groupby("device", sort=True):
        names = sorted({_text(v) for v in rows["device_name"].dropna() if _text(v)})
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
    b = base.set_index("cell").loc[common, "device_name"].map(_text)
    n = new.set_index("cell").loc[common, "device_name"].map(_text)
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
    return {str(s.get("cell")): _text(s.get("reason")) for s in skipped if isinstance(s, dict)}


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
) -> Comparison:
    """Compare every cell of ``new_dir`` with ``baseline_dir``. ``run_noise`` (a fraction) overrides
    the baseline's ``noise.json``; without either the runs are judged on their windows alone.

    Raises :class:`GhostbenchError` (exit 2) for unreadable runs, runs of different devices or
    hardware, runs with no cell in common, and when no cell could be compared fairly.
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
    run_sigma, run_noise_source, noise_notes = _run_noise(base_path, base_info, run_noise)
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


# ---- text -------------------------------------------------------------------------------------------

STATUS_TEXT: dict[str, str] = {
    REGRESSION: "slower",
    FAILED: "fails now",
    IMPROVEMENT: "faster",
    NOT_COMPARABLE: "not comparable",
    BASELINE_FAILED: "failed in baseline",
    ONLY_BASELINE: "only in baseline",
    ONLY_NEW: "only in new run",
    UNCHANGED: "within noise",
}


def fmt_change(ratio: object) -> str:
    """A ratio as a signed percent change: 1.104 -> ``+10.4 %``."""
    return f"{100 * (ratio - 1):+.1f} %" if finite(ratio) else "–"


def fmt_interval(low: object, high: object) -> str:
    if not (finite(low) and finite(high)):
        return "–"
    return f"[{100 * (low - 1):+.1f}, {100 * (high - 1):+.1f}] %"


def fmt_margin(margin: object) -> str:
    return f"±{100 * margin:.1f} %" if finite(margin) else "–"


def fmt_p(p: object) -> str:
    if not finite(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def summary_line(comparison: Comparison) -> str:
    """``2 slower, 1 faster, 30 within noise (of 33 cells); threshold 5.0 %, run noise 3.0 %, ...``."""
    parts = [f"{n} {STATUS_TEXT[s]}" for s, n in comparison.counts.items() if n]
    return (
        f"{', '.join(parts)} (of {len(comparison.cells)} cells); "
        f"threshold {100 * comparison.threshold:.1f} %, run noise {100 * comparison.run_noise:.1f} %, "
        f"{comparison.confidence:.0%} intervals"
    )


def to_markdown(comparison: Comparison) -> str:
    """A GitHub-flavoured Markdown summary (for ``$GITHUB_STEP_SUMMARY``); every string from a
    results file is escaped."""
    from ghostbench.reports.fmt import ms
    from ghostbench.reports.markdown import md

    c = comparison
    verdict = "**regression**" if c.regressed else "no regression"
    out = [
        f"## ghostbench compare: {verdict}",
        "",
        f"Baseline `{md(c.baseline.run_id)}` → new `{md(c.new.run_id)}`: {md(summary_line(c))}.",
        "",
        "| cell | verdict | baseline | new | change | 95 % interval | margin | p (MWU) | note |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for cell in c.cells:
        status = STATUS_TEXT[cell.status]
        if cell.status in (REGRESSION, FAILED):
            status = f"**{status}**"
        out.append(
            f"| {md(cell.cell)} | {status} | {ms(cell.baseline_ms)} | {ms(cell.new_ms)} | "
            f"{fmt_change(cell.ratio)} | {fmt_interval(cell.ratio_low, cell.ratio_high)} | "
            f"{fmt_margin(cell.margin)} | {fmt_p(cell.p_value)} | {md(cell.reason)} |"
        )
    out.append("")
    if c.environment:
        out += ["**Environment differences**", "", "| what | baseline | new |", "| --- | --- | --- |"]
        out += [f"| {md(d.key)} | {md(d.baseline)} | {md(d.new)} |" for d in c.environment]
        out.append("")
    out += [f"> {md(note)}" for note in c.notes]
    out += ["", f"Run noise: {md(c.run_noise_source)}.", "", f"Rule: {md(RULE)}."]
    return "\n".join(out) + "\n"
