"""Is the new run's machine as fast as the baseline's? Judged from the machine-speed probe each
run records at its start and end (``worker.speed``, ``run.json`` ``speed_probe``).

Each component's ratio new / baseline is the median of the new run's probes over the median of
the baseline's. The machines differ when any ratio moves further from 1 than the margin: the
larger of compare's threshold, the run noise as compare counts it between two runs (2.5 sqrt 2
sigma_run) and 2.5 times the larger spread between a run's own start and end probe (how far the
probe moves on one machine within a run). Then latencies of the two runs are not comparable and
``compare`` exits 2 unless told to judge anyway; the latencies are never rescaled by the probe.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from ghostbench.worker.speed import COMPONENTS

Z = 2.5


@dataclass(frozen=True)
class MachineSpeed:
    """The probe's verdict: ``ratios`` (component -> new / baseline), the ``margin`` they were held
    to, and whether the machines ``differ``; ``missing`` says why there was nothing to hold."""

    ratios: dict[str, float]
    margin: float
    differ: bool
    missing: str = ""

    def describe(self) -> str:
        if self.missing:
            return f"machine speed not checked: {self.missing}"
        parts = ", ".join(f"{name} {_slower(r)}" for name, r in self.ratios.items())
        how = "at another speed than" if self.differ else "as fast as"
        margin = f"margin {self.margin:.1%}"
        return f"this machine ran the reference workload {how} the baseline's: {parts} ({margin})"


def _slower(ratio: float) -> str:
    change = ratio - 1
    return f"{abs(change):.1%} {'slower' if change > 0 else 'faster'}"


def _probes(run: dict) -> list[dict]:
    probe = run.get("speed_probe")
    if not isinstance(probe, dict):
        return []
    found = []
    for when in ("start", "end"):
        value = probe.get(when)
        seconds = [value.get(f"{c}_s") for c in COMPONENTS] if isinstance(value, dict) else []
        if seconds and all(isinstance(s, int | float) and math.isfinite(s) and s > 0 for s in seconds):
            found.append(value)
    return found


def _spread(probes: list[dict], component: str) -> float:
    values = [p[f"{component}_s"] for p in probes]
    return max(values) / min(values) - 1 if len(values) > 1 else 0.0


def machine_speed(base_run: dict, new_run: dict, *, threshold: float, run_sigma: float) -> MachineSpeed:
    base, new = _probes(base_run), _probes(new_run)
    if not base or not new:
        side = "the baseline" if not base else "the new run"
        return MachineSpeed(
            {}, 0.0, False, f"{side} has no machine-speed probe (recorded since ghostbench 0.1)"
        )
    ratios, spreads = {}, []
    for c in COMPONENTS:
        ratios[c] = statistics.median(p[f"{c}_s"] for p in new) / statistics.median(p[f"{c}_s"] for p in base)
        spreads += [_spread(base, c), _spread(new, c)]
    margin = max(threshold, Z * math.sqrt(2) * run_sigma, Z * max(spreads))
    differ = any(abs(r - 1) > margin for r in ratios.values())
    return MachineSpeed(ratios, margin, differ)
