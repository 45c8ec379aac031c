"""Summaries of latency samples: pure functions of integer nanoseconds, no clocks, no I/O.

Latency distributions are skewed and heavy-tailed (a preempted iteration costs 10x), so the centre
is the median and its 95% confidence interval is distribution-free: the order statistics whose
ranks a Binomial(n, 1/2) brackets, the same interval as ``scipy.stats.quantile_test`` gives.
Flags turn instability into data (pyperf's ``format_checks`` spirit):

- ``high_cv``: std / mean over all samples above :data:`HIGH_CV`.
- ``drift``: within a window, the median of the last third departs from the first third's by more
  than :data:`DRIFT` and a Mann-Whitney U test calls the shift significant (p < 0.01).
- ``window_outlier``: a window whose confidence interval, widened to at least +/-
  :data:`WINDOW_TOLERANCE`, misses the median of all window medians.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95
HIGH_CV = 0.10
DRIFT = 0.05
DRIFT_P = 0.01
# How far a window's median may sit from the others before the window is flagged. A window's own
# interval (+/-1 % after a second) says nothing about the next window: on the shared 2-CPU
# development machine, idle, window medians of one cell move with a standard deviation of 4-7 %,
# and a +/-1 % rule flagged 44 of the 45 cells of the CPU baseline (+/-10 %: 6 of 45).
WINDOW_TOLERANCE = 0.10
# Below this many samples per third, a drift test has too little to go on.
DRIFT_MIN_PER_THIRD = 10


def _array(samples: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.asarray(samples, dtype=np.float64)


def ci_ranks(n: int, confidence: float = CONFIDENCE) -> tuple[int, int] | None:
    """0-based ranks (lo, hi) of the order statistics bounding the median's interval, or ``None``
    when ``n`` is too small for any interval to reach ``confidence``."""
    if n < 1:
        return None
    q = int(sps.binom.ppf((1 - confidence) / 2, n, 0.5))
    if q < 1:
        return None
    return q - 1, n - q


def median_ci(samples: Sequence[int] | np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Distribution-free confidence interval of the median; NaNs when there are too few samples."""
    x = _array(samples)
    ranks = ci_ranks(len(x), confidence)
    if ranks is None:
        return float("nan"), float("nan")
    part = np.partition(x, ranks)
    return float(part[ranks[0]]), float(part[ranks[1]])


def relative_halfwidth(samples: Sequence[int] | np.ndarray, confidence: float = CONFIDENCE) -> float:
    """The larger side of the median's interval as a fraction of the median (inf if undefined)."""
    x = _array(samples)
    ranks = ci_ranks(len(x), confidence)
    if ranks is None:
        return float("inf")
    median = float(np.median(x))
    if median <= 0:
        return float("inf")
    part = np.partition(x, ranks)
    return max(median - part[ranks[0]], part[ranks[1]] - median) / median


def settled(samples: Sequence[int] | np.ndarray, tolerance: float) -> bool:
    """Warm-up is over when the two quarters of the most recent half agree within ``tolerance``
    (pyperf's rule: compare halves of recent samples), so early cold iterations never count."""
    x = _array(samples)
    n = len(x)
    if n < 4:
        return False
    older = float(np.median(x[n // 2 : 3 * n // 4]))
    newer = float(np.median(x[3 * n // 4 :]))
    return older > 0 and abs(newer / older - 1) <= tolerance


def drift(samples: Sequence[int] | np.ndarray) -> tuple[float, float]:
    """(relative change of the median from the first to the last third, Mann-Whitney p-value)."""
    x = _array(samples)
    third = len(x) // 3
    if third < DRIFT_MIN_PER_THIRD:
        return 0.0, 1.0
    first, last = x[:third], x[-third:]
    change = float(np.median(last) / np.median(first) - 1)
    p = float(sps.mannwhitneyu(first, last, alternative="two-sided").pvalue)
    return change, p


def window_spread(windows: Sequence[Sequence[int] | np.ndarray]) -> float:
    """(max - min) of the window medians over the median of all samples: how far the windows of one
    cell moved (0 for one window, NaN without samples or with a median of 0)."""
    arrays = [_array(w) for w in windows if len(w)]
    if not arrays:
        return float("nan")
    medians = [float(np.median(a)) for a in arrays]
    median = float(np.median(np.concatenate(arrays)))
    return (max(medians) - min(medians)) / median if median > 0 else float("nan")


def outlier_windows(
    windows: Sequence[Sequence[int] | np.ndarray],
    confidence: float = CONFIDENCE,
    tolerance: float = WINDOW_TOLERANCE,
) -> list[int]:
    """Indices of windows whose interval (widened to at least +/- ``tolerance``) misses the median of
    all window medians (a robust centre: one bad window cannot drag it). Needs two windows; two
    that disagree are both flagged, since neither can be told to be the good one."""
    arrays = [_array(w) for w in windows if len(w)]
    if len(arrays) < 2:
        return []
    medians = [float(np.median(a)) for a in arrays]
    centre = float(np.median(medians))
    flagged = []
    for i, a in enumerate(arrays):
        lo, hi = median_ci(a, confidence)
        lo = min(lo, medians[i] * (1 - tolerance)) if np.isfinite(lo) else medians[i] * (1 - tolerance)
        hi = max(hi, medians[i] * (1 + tolerance)) if np.isfinite(hi) else medians[i] * (1 + tolerance)
        if not lo <= centre <= hi:
            flagged.append(i)
    return flagged


@dataclass(frozen=True)
class Summary:
    """All figures in nanoseconds (float), except ratios (``cv``, ``window_spread``, ``drift``)."""

    n: int
    windows: int
    median_ns: float
    mean_ns: float
    std_ns: float
    min_ns: float
    max_ns: float
    cv: float
    window_medians_ns: tuple[float, ...]
    window_spread: float
    flags: tuple[str, ...]
    # What only samples give; NaN or empty when a tool reported statistics instead.
    p90_ns: float = math.nan
    p99_ns: float = math.nan
    ci_low_ns: float = math.nan
    ci_high_ns: float = math.nan
    outlier_windows: tuple[int, ...] = ()
    drift: float = 0.0


def summarize(
    windows: Sequence[Sequence[int] | np.ndarray],
    *,
    confidence: float = CONFIDENCE,
    high_cv: float = HIGH_CV,
    drift_limit: float = DRIFT,
    window_tolerance: float = WINDOW_TOLERANCE,
) -> Summary:
    """Pool the timed samples of every window of one cell; keep what varies between windows.

    Percentiles use numpy's default (linear interpolation); ``std`` is the sample std (ddof=1).
    """
    arrays = [_array(w) for w in windows if len(w)]
    if not arrays:
        raise ValueError("no samples to summarize")
    x = np.concatenate(arrays)
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if len(x) > 1 else 0.0
    median = float(np.median(x))
    p90, p99 = (float(v) for v in np.percentile(x, [90, 99]))
    lo, hi = median_ci(x, confidence)
    medians = tuple(float(np.median(a)) for a in arrays)
    spread = window_spread(arrays)
    outliers = tuple(outlier_windows(arrays, confidence, window_tolerance))
    drifts = [drift(a) for a in arrays]
    worst = max(drifts, key=lambda d: abs(d[0]))[0]
    cv = std / mean if mean > 0 else float("nan")
    flags = []
    if cv > high_cv:
        flags.append("high_cv")
    if any(abs(change) > drift_limit and p < DRIFT_P for change, p in drifts):
        flags.append("drift")
    if outliers:
        flags.append("window_outlier")
    return Summary(
        n=len(x),
        windows=len(arrays),
        median_ns=median,
        p90_ns=p90,
        p99_ns=p99,
        mean_ns=mean,
        std_ns=std,
        min_ns=float(x.min()),
        max_ns=float(x.max()),
        cv=cv,
        ci_low_ns=lo,
        ci_high_ns=hi,
        window_medians_ns=medians,
        window_spread=spread,
        outlier_windows=outliers,
        drift=worst,
        flags=tuple(flags),
    )


def summarize_reported(reports: Sequence[dict], high_cv: float = HIGH_CV) -> Summary:
    """:func:`summarize` for windows that reported statistics instead of samples (TFLite's
    benchmark_model on a phone, ``worker/remote/parse.py``).

    Exact pooling where the statistics allow it: n, mean, min, max and the (ddof=1) std from the
    windows' counts, means and population stds. The median is the window's own (the tool's
    upper median) for one window and the median of the window medians for several; it and the
    window spread need the percentiles recent builds print (NaN without them). p90, p99 and the
    median's interval need samples: NaN. ``high_cv`` is the only flag the statistics support.
    """
    if not reports:
        raise ValueError("no windows to summarize")
    counts = [int(r["count"]) for r in reports]
    n = sum(counts)
    mean = sum(c * r["avg_ns"] for c, r in zip(counts, reports, strict=True)) / n
    second = sum(c * (r["std_ns"] ** 2 + r["avg_ns"] ** 2) for c, r in zip(counts, reports, strict=True)) / n
    variance = max(second - mean**2, 0.0)
    std = math.sqrt(variance * n / (n - 1)) if n > 1 else 0.0
    medians = tuple(float("nan") if r.get("median_ns") is None else float(r["median_ns"]) for r in reports)
    median = float(np.median(medians))  # NaN if any window printed no median
    spread = (max(medians) - min(medians)) / median if median > 0 else float("nan")
    cv = std / mean if mean > 0 else float("nan")
    return Summary(
        n=n,
        windows=len(reports),
        median_ns=median,
        mean_ns=mean,
        std_ns=std,
        min_ns=min(r["min_ns"] for r in reports),
        max_ns=max(r["max_ns"] for r in reports),
        cv=cv,
        window_medians_ns=medians,
        window_spread=spread,
        flags=("high_cv",) if cv > high_cv else (),
    )


def finite(x: object) -> bool:
    """A real number (not bool, not NaN or inf): a figure that can be shown or compared."""
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
