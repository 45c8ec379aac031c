"""What a comparison finds: the statuses, one cell's comparison, the whole comparison, the rule."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import pandas as pd

__all__ = [
    "BASELINE_FAILED",
    "CONFIDENCE",
    "DEFAULT_THRESHOLD",
    "FAILED",
    "IMPROVEMENT",
    "NOT_COMPARABLE",
    "ONLY_BASELINE",
    "ONLY_NEW",
    "REGRESSION",
    "RESAMPLES",
    "RULE",
    "SEED",
    "STATUS_ORDER",
    "UNCHANGED",
    "CellComparison",
    "Comparison",
    "EnvDifference",
    "RunInfo",
    "Z",
]

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


def as_text(value: object) -> str:
    """A results cell as text: '' for a missing value (None, NaN, pd.NA)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def as_float(value: object) -> float:
    """A results cell as a float: NaN when it is missing or not a number."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
    return x
