"""The latency dashboard of one device's history: a small time series per cell (run median with its
95% interval, run by run), cells grouped by model family and backend, the change points found by
``reports.changepoints`` drawn on their plots and listed with what changed in the environment at
that run. Self-contained like the report: figures inlined, Jinja2 autoescape, a
Content-Security-Policy that allows no script and no request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from markupsafe import Markup

from ghostbench import __version__
from ghostbench.bench import history
from ghostbench.reports import changepoints, fmt, plots
from ghostbench.reports.html import asset, csp_hash, templates


@dataclass(frozen=True)
class ChangePoint:
    cell: str
    run_id: str  # the first run of the new level
    date: str
    step: changepoints.Step
    env_changes: dict[str, list[str | None]]

    def to_dict(self) -> dict:
        s = self.step
        return {
            "cell": self.cell,
            "run_id": self.run_id,
            "date": self.date,
            "before_ms": s.before,
            "before_ci_ms": [s.before_low, s.before_high],
            "after_ms": s.after,
            "after_ci_ms": [s.after_low, s.after_high],
            "change": s.change,
            "z": s.z,
            "env_changes": self.env_changes,
        }


def _text(value: object) -> str:
    """A table value as text; a missing one (None, NaN) as ''."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def series(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """cell -> its measured runs, oldest first (failed cells are gaps, not points)."""
    ok = frame[(frame["status"] == "ok") & frame["median_ms"].notna()]
    return {str(cell): part.reset_index(drop=True) for cell, part in ok.groupby("cell", sort=True)}


def find_change_points(frame: pd.DataFrame, run_noise: float) -> list[ChangePoint]:
    """Every cell's steps, each with the environment facts (and the cell's flags) that differ
    between the last run before it and the first run after."""
    envs = history.environment(frame)
    found = []
    for cell, runs in series(frame).items():
        for step in changepoints.steps(runs["median_ms"], runs["ci_low_ms"], runs["ci_high_ms"], run_noise):
            before, after = runs.iloc[step.index - 1], runs.iloc[step.index]
            changes = history.env_changes(envs[str(before["run_id"])], envs[str(after["run_id"])])
            flags = [_text(before["flags"]), _text(after["flags"])]
            if flags[0] != flags[1]:
                changes["cell.flags"] = flags
            found.append(ChangePoint(cell, str(after["run_id"]), str(after["created"]), step, changes))
    return sorted(found, key=lambda c: (c.date, c.cell))


@plots.styled
def cell_plot(runs: pd.DataFrame, points: list[ChangePoint], family: str) -> str:
    """One cell's medians (ms) and intervals over its runs, change points as vertical lines."""
    fig = plots._figure(3.4, 1.7)
    ax = fig.add_subplot()
    x = np.arange(len(runs))
    ax.fill_between(x, runs["ci_low_ms"], runs["ci_high_ms"], color=plots.color(family), alpha=0.25, lw=0)
    ax.plot(x, runs["median_ms"], marker="o", ms=2.5, lw=1, color=plots.color(family))
    index = {str(r): i for i, r in enumerate(runs["run_id"])}
    for point in points:
        ax.axvline(index[point.run_id] - 0.5, color="#b00", lw=1, ls="--")
    ax.set_ylabel("median (ms)")
    ticks = sorted({0, len(runs) - 1, *(index[p.run_id] for p in points)})
    ax.set_xticks(ticks, [str(runs["created"].iloc[i])[:10] for i in ticks], fontsize=6)
    return plots.to_data_uri(fig)


def _level(value: float, low: float, high: float) -> str:
    return f"{fmt.ms(value)} {fmt.ms_range(low, high)}"


def build_context(frame: pd.DataFrame, device: str, run_noise: float, noise_source: str) -> dict:
    points = find_change_points(frame, run_noise)
    by_cell: dict[str, list[ChangePoint]] = {}
    for p in points:
        by_cell.setdefault(p.cell, []).append(p)
    cells = series(frame)
    meta = frame.drop_duplicates("cell").set_index("cell")
    groups: dict[tuple[str, str], list[dict]] = {}
    for cell, runs in cells.items():
        family, backend = _text(meta.loc[cell, "family"]) or "other", _text(meta.loc[cell, "backend"])
        last = runs.iloc[-1]
        groups.setdefault((family, backend), []).append(
            {
                "cell": cell,
                "runs": len(runs),
                "last": fmt.ms(last["median_ms"]),
                "plot": cell_plot(runs, by_cell.get(cell, []), family),
                "changes": len(by_cell.get(cell, [])),
            }
        )
    order = plots.family_order(sorted({f for f, _ in groups}))
    runs = frame.drop_duplicates("run_id")
    return {
        "title": f"ghostbench history: {device}",
        "version": __version__,
        "device": device,
        "runs": len(runs),
        "first": str(runs["created"].min()),
        "last": str(runs["created"].max()),
        "cells": len(cells),
        "run_noise": f"{100 * run_noise:.1f} %",
        "noise_source": noise_source,
        "rule": changepoints.RULE,
        "points": [
            {
                "date": p.date,
                "cell": p.cell,
                "run_id": p.run_id,
                "before": _level(p.step.before, p.step.before_low, p.step.before_high),
                "after": _level(p.step.after, p.step.after_low, p.step.after_high),
                "change": f"{100 * p.step.change:+.1f} %",
                "env": "; ".join(f"{k}: {b} → {a}" for k, (b, a) in p.env_changes.items())
                or "nothing recorded",
            }
            for p in points
        ],
        "groups": [
            {"family": family, "backend": backend, "cells": groups[(family, backend)]}
            for family in order
            for backend in sorted(b for f, b in groups if f == family)
        ],
        "change_points": points,
    }


def render(context: dict) -> str:
    css = asset("report.css")
    csp = f"default-src 'none'; img-src data:; style-src {csp_hash(css)}; base-uri 'none'; form-action 'none'"
    return templates().get_template("dashboard.html.j2").render(**context, css=Markup(css), csp=csp)
