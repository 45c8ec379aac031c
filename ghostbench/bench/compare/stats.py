"""The statistics of a comparison: pure functions of latency samples (nanoseconds), no files.

The bootstrap interval of a ratio of medians, the d2 constant that turns a window range into a
standard deviation, and the Mann-Whitney U p-value shown beside the verdict."""

from __future__ import annotations

import functools

import numpy as np

from ghostbench.bench.compare.result import CONFIDENCE, RESAMPLES, SEED


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


def mann_whitney_p(baseline: np.ndarray, new: np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value of the two runs' samples (reported, never judged on)."""
    from scipy import stats as sps

    return float(sps.mannwhitneyu(baseline, new, alternative="two-sided").pvalue)
