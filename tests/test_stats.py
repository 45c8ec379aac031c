"""stats.py: the median's interval against scipy, and each flag on planned data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from ghostbench.core import stats


@pytest.mark.parametrize("n", [6, 7, 10, 11, 50, 101, 1000, 4001])
def test_median_ci_is_scipy_quantile_test_interval(n: int) -> None:
    x = np.random.default_rng(n).lognormal(mean=13, sigma=0.3, size=n).round()
    ci = sps.quantile_test(x, q=np.median(x), p=0.5).confidence_interval(0.95)
    assert stats.median_ci(x) == (ci.low, ci.high)


def test_median_ci_covers_the_true_median() -> None:
    rng = np.random.default_rng(0)
    trials, n = 2000, 41
    hits = 0
    for _ in range(trials):
        lo, hi = stats.median_ci(rng.exponential(size=n))
        hits += lo <= math.log(2) <= hi
    # Order-statistic intervals are conservative: coverage is at least 95% (binomial noise allowed).
    assert hits / trials >= 0.94


def test_median_ci_needs_enough_samples() -> None:
    assert all(math.isnan(v) for v in stats.median_ci([1, 2, 3, 4, 5]))
    assert stats.relative_halfwidth([1, 2, 3, 4, 5]) == math.inf


def test_relative_halfwidth_is_the_wider_side() -> None:
    x = np.arange(1, 102, dtype=float)  # median 51
    lo, hi = stats.median_ci(x)
    assert stats.relative_halfwidth(x) == pytest.approx(max(51 - lo, hi - 51) / 51)


def test_settled_compares_the_quarters_of_the_recent_half() -> None:
    flat = [1000] * 40
    cooling = [2000 - 20 * i for i in range(40)]  # still falling 2% per step
    assert stats.settled(flat, 0.05)
    assert not stats.settled(cooling, 0.05)
    # Cold samples in the first half never count.
    assert stats.settled([50_000] * 20 + [1000] * 20, 0.05)


def _windows(rng: np.random.Generator, medians: list[float], n: int = 400, sd: float = 0.01) -> list:
    return [(rng.normal(m, m * sd, size=n)).round().astype(np.int64) for m in medians]


def test_summarize_stable_windows_has_no_flags() -> None:
    rng = np.random.default_rng(1)
    windows = _windows(rng, [1e6, 1e6, 1e6])
    s = stats.summarize(windows)
    x = np.concatenate(windows)
    assert s.flags == ()
    assert s.n == 1200 and s.windows == 3
    assert s.median_ns == np.median(x)
    assert s.p90_ns == np.percentile(x, 90) and s.p99_ns == np.percentile(x, 99)
    assert s.std_ns == pytest.approx(np.std(x, ddof=1))
    assert s.cv == pytest.approx(s.std_ns / s.mean_ns)
    assert s.min_ns == x.min() and s.max_ns == x.max()
    medians = [np.median(w) for w in windows]
    assert s.window_spread == pytest.approx((max(medians) - min(medians)) / s.median_ns)
    assert s.ci_low_ns <= s.median_ns <= s.ci_high_ns


def test_summarize_flags_the_window_that_departs() -> None:
    rng = np.random.default_rng(2)
    s = stats.summarize(_windows(rng, [1e6, 1.2e6, 1e6]))
    assert s.outlier_windows == (1,)
    assert s.flags == ("window_outlier",)


def test_a_departure_inside_the_window_tolerance_is_not_an_outlier() -> None:
    rng = np.random.default_rng(3)
    # 6% apart with very tight windows: far beyond their CI, but windows of one cell move that much
    # on a shared machine, so only a departure beyond WINDOW_TOLERANCE (10%) is flagged.
    s = stats.summarize(_windows(rng, [1e6, 1.06e6, 1e6], n=4000, sd=0.001))
    assert s.outlier_windows == ()
    assert stats.outlier_windows(_windows(rng, [1e6, 1.06e6, 1e6], n=4000, sd=0.001), tolerance=0.01) == [1]


def test_summarize_flags_drift_within_a_window() -> None:
    rng = np.random.default_rng(4)
    ramp = (np.linspace(1e6, 1.15e6, 600) + rng.normal(0, 5e3, 600)).astype(np.int64)
    s = stats.summarize([ramp])
    assert "drift" in s.flags
    assert s.drift == pytest.approx(0.10, abs=0.02)


def test_summarize_flags_high_cv() -> None:
    rng = np.random.default_rng(5)
    s = stats.summarize([rng.lognormal(13, 0.5, size=500)])
    assert s.cv > stats.HIGH_CV
    assert "high_cv" in s.flags


def test_summarize_rejects_no_samples() -> None:
    with pytest.raises(ValueError, match="no samples"):
        stats.summarize([[], []])
