"""The window protocol: what a worker is asked (a :class:`HarnessConfig` in a request), what it
measures (a :class:`WindowResult`) and what the parent learns (a :class:`WindowOutcome`).

Both ends of a window speak it: the worker process on this machine, the worker on an ARM board
over SSH and the adb phone driver, so it lives here, in plain dataclasses that travel as JSON.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING

from ghostbench.core import stats

if TYPE_CHECKING:
    from ghostbench.core.artifact import Artifact
    from ghostbench.core.cell import Cell

PROTOCOL = 1


@dataclass(frozen=True)
class HarnessConfig:
    """How long one window warms up and measures. Times in seconds, ``target`` a fraction."""

    warmup_min_iters: int = 10
    warmup_min_s: float = 0.5
    warmup_max_s: float = 10.0
    settle_tolerance: float = 0.05
    target: float = 0.01
    confidence: float = stats.CONFIDENCE
    min_samples: int = 50
    min_time_s: float = 1.0
    time_cap_s: float = 10.0
    max_samples: int = 200_000
    check_interval_s: float = 0.05

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value}")
        if not 0 < self.target < 1:
            raise ValueError(f"target must be a fraction in (0, 1), got {self.target}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")
        if self.time_cap_s <= 0 or self.min_time_s < 0 or self.min_time_s > self.time_cap_s:
            raise ValueError(
                f"a window needs a time cap > 0 s and a minimum time from 0 s up to it; got time cap "
                f"{self.time_cap_s} s, minimum {self.min_time_s} s"
            )
        if self.warmup_max_s < self.warmup_min_s:
            raise ValueError(f"warm-up: max {self.warmup_max_s} s is below min {self.warmup_min_s} s")
        if self.min_samples < 1 or self.max_samples < self.min_samples:
            raise ValueError(
                f"need 1 <= min_samples <= max_samples, got {self.min_samples} and {self.max_samples}"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> HarnessConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown harness settings: {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass
class WindowResult:
    """One window of one cell. All durations are integer nanoseconds."""

    samples_ns: list[int]
    load_ns: int
    first_ns: int
    warmup_n: int
    warmup_ns: int
    settled: bool
    stop: str  # "converged", "time_cap" or "max_samples"
    timed_ns: int  # wall time of the timed phase
    halfwidth: float  # relative half-width of the median's interval at the stop

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> WindowResult:
        return cls(**data)


@dataclass
class WindowOutcome:
    """What the parent learned from one worker: the worker's answer, or why there is none."""

    status: str  # ok | error
    result: dict = field(default_factory=dict)
    error: str = ""
    returncode: int | None = None
    wall_s: float = 0.0
    stderr_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def request(cell: Cell, artifact: Artifact | None, harness: dict, *, seed: int, window: int) -> dict:
    """The JSON a worker reads on its stdin for one window of ``cell``."""
    return {
        "protocol": PROTOCOL,
        "cell": cell.to_dict(),
        "artifact": artifact.to_dict() if artifact is not None else None,
        "harness": harness,
        "seed": seed,
        "window": window,
    }
