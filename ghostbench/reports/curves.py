"""The maths under the report's curves: the accuracy-latency Pareto front, Spearman's rho of many
rows at once, and power-law fits in log-log space. Pure functions of :class:`Point` lists and
arrays, shared by the verdict rules (``verdict.py``) and the plots (``plots.py``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.stats import pearsonr, rankdata

from ghostbench.core.stats import finite


@dataclass(frozen=True)
class Point:
    """One model in one group: median latency with its 95% CI, and what the claims compare."""

    model: str
    family: str
    latency_ms: float
    ci_low_ms: float
    ci_high_ms: float
    top1: float | None = None
    macs: float | None = None
    activations: float | None = None

    @property
    def has_ci(self) -> bool:
        vals = (self.ci_low_ms, self.latency_ms, self.ci_high_ms)
        return all(math.isfinite(v) for v in vals) and self.ci_low_ms <= self.latency_ms <= self.ci_high_ms


def pareto_front(points: Iterable[Point]) -> list[Point]:
    """Points no other point beats on both median latency and top-1, fastest first."""
    ranked = sorted((p for p in points if finite(p.top1)), key=lambda p: (p.latency_ms, -(p.top1 or 0.0)))
    front: list[Point] = []
    for p in ranked:
        if not front or (p.top1 or 0.0) > (front[-1].top1 or 0.0):
            front.append(p)
    return front


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair (ties get average ranks); NaN where a row is constant."""
    rx = rankdata(x, axis=-1)
    ry = rankdata(y, axis=-1)
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=-1) * (ry * ry).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=-1) / den, np.nan)


def loglog_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Power-law fit y = exp(b) * x**a in log-log space: (a, b, Pearson r of the logs); NaN if undefined.

    Latencies and complexities span orders of magnitude, so a linear fit on raw values would be
    decided by the largest models alone.
    """
    keep = (x > 0) & (y > 0)
    lx, ly = np.log(x[keep]), np.log(y[keep])
    if len(lx) < 3 or np.ptp(lx) == 0 or np.ptp(ly) == 0:
        return math.nan, math.nan, math.nan
    a, b = np.polyfit(lx, ly, 1)
    return float(a), float(b), float(pearsonr(lx, ly).statistic)
