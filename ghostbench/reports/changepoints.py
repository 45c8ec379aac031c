"""Steps in a cell's latency over runs: candidates from ruptures' PELT, kept only when the step is
beyond what the machine's run noise and the runs' own intervals explain.

Why this way (docs/regression.md has the longer argument): a nightly series is short (tens of
points) and noisy (a shared machine moves a run's median by several percent), and the question is
a step in level, not a change of distribution. PELT (Killick et al. 2012) finds the segmentation
that minimises the summed absolute deviation from each segment's median plus a penalty per change
exactly, not greedily; with medians and a minimum segment length a single odd night is neither a
level nor enough to move one.
It has no notion of significance, so each candidate is then tested with what this project knows
about its noise: the run noise calibrated on the machine (``noise.json``) plus each run's own
confidence interval. A step counts when

- each side has at least :data:`MIN_SEGMENT` runs,
- the difference of the sides' median log medians is at least :data:`Z_MIN` standard errors
  (each run's variance: run noise squared plus its interval's half-width over 1.96, squared; a
  median's standard error is sqrt(pi/2) times a mean's), and
- the step is larger than :data:`MARGIN_SIGMAS` times the run noise (a step noise alone makes
  rarely, whatever the number of runs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_SEGMENT = 3  # runs on each side of a step: one or two odd nights are not a new level
Z_MIN = 4.0
MARGIN_SIGMAS = 2.0
Z95 = 1.959963984540054

RULE = (
    f"A change point is a step in the log of a cell's run medians that ruptures' PELT (l1 cost, "
    f"penalty 2 ln n, at least {MIN_SEGMENT} runs per level) finds and where the two levels' medians "
    f"differ by at least {Z_MIN:g} standard errors (each run's variance: the machine's run noise "
    f"squared plus its own 95% interval half-width over 1.96, squared) and by at least "
    f"{MARGIN_SIGMAS:g} times the run noise."
)


@dataclass(frozen=True)
class Step:
    """A step at ``index`` (the first run of the new level) of one series."""

    index: int
    before: float  # the level before (median of its runs), same unit as the series
    after: float
    before_low: float  # 95% interval of each level
    before_high: float
    after_low: float
    after_high: float
    z: float

    @property
    def change(self) -> float:
        """after / before - 1."""
        return self.after / self.before - 1


def run_sigma(low: np.ndarray, high: np.ndarray, run_noise: float) -> np.ndarray:
    """The standard deviation of each run's log median: run noise and the run's own interval."""
    with np.errstate(divide="ignore", invalid="ignore"):
        own = (np.log(high) - np.log(low)) / (2 * Z95)
    own = np.where(np.isfinite(own) & (own >= 0), own, 0.0)
    return np.sqrt(run_noise**2 + own**2)


def _level(y: np.ndarray, sd: np.ndarray) -> tuple[float, float]:
    """A level's median log median and its standard error (sqrt(pi/2) times the mean's, for
    normal runs): the median, so one odd night inside a level does not move it."""
    return float(np.median(y)), math.sqrt(math.pi / 2) * math.sqrt(float(np.mean(sd**2)) / len(y))


def _first_of_new_level(y: np.ndarray, start: int, cut: int, stop: int) -> int:
    """The step's position moved to the first run that is nearer the new level than the old one
    (a minimum segment length can make PELT take a run or two of the old level into the new one)."""
    old, new = float(np.median(y[start:cut])), float(np.median(y[cut:stop]))
    while cut < stop and abs(y[cut] - old) < abs(y[cut] - new):
        cut += 1
    while cut > start and abs(y[cut - 1] - new) < abs(y[cut - 1] - old):
        cut -= 1
    return cut


def steps(
    median: Sequence[float], low: Sequence[float], high: Sequence[float], run_noise: float
) -> list[Step]:
    """The steps of one series of run medians (oldest first) with their 95% intervals."""
    import ruptures

    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(np.asarray(median, dtype=float))
    n = len(y)
    if n < 2 * MIN_SEGMENT or not np.all(np.isfinite(y)):
        return []
    sd = run_sigma(np.asarray(low, dtype=float), np.asarray(high, dtype=float), run_noise)
    scale = float(np.median(sd)) or 1.0
    ends = ruptures.Pelt(model="l1", min_size=MIN_SEGMENT, jump=1).fit((y / scale).reshape(-1, 1))
    bounds = [0, *ends.predict(pen=2 * math.log(n))]
    found = []
    for start, cut, stop in zip(bounds, bounds[1:], bounds[2:], strict=False):
        cut = _first_of_new_level(y, start, cut, stop)
        if cut - start < MIN_SEGMENT or stop - cut < MIN_SEGMENT:
            continue
        a, b = slice(start, cut), slice(cut, stop)
        level_a, se_a = _level(y[a], sd[a])
        level_b, se_b = _level(y[b], sd[b])
        diff = level_b - level_a
        z = diff / math.hypot(se_a, se_b)
        if abs(z) >= Z_MIN and abs(diff) >= MARGIN_SIGMAS * run_noise:
            found.append(
                Step(
                    index=cut,
                    before=math.exp(level_a),
                    after=math.exp(level_b),
                    before_low=math.exp(level_a - Z95 * se_a),
                    before_high=math.exp(level_a + Z95 * se_a),
                    after_low=math.exp(level_b - Z95 * se_b),
                    after_high=math.exp(level_b + Z95 * se_b),
                    z=z,
                )
            )
    return found


def estimate_noise(series: Sequence[Sequence[float]]) -> float | None:
    """The run noise of a history that has no calibration: per series, the median absolute
    difference of consecutive log medians over 0.6745 sqrt(2) (a step moves one difference, so a
    few steps barely move it); the median over series with at least :data:`MIN_SEGMENT` runs."""
    sigmas = []
    for values in series:
        y = np.log(np.asarray(values, dtype=float))
        if len(y) >= MIN_SEGMENT and np.all(np.isfinite(y)):
            sigmas.append(float(np.median(np.abs(np.diff(y)))) / (0.6745 * math.sqrt(2)))
    return float(np.median(sigmas)) if sigmas else None
