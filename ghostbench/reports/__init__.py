"""The report: a pure function of results directories (no model code runs).

``build_report(run_dirs, out_path)`` reads the runs, computes the verdicts on the two claims and
writes one self-contained HTML file (and, if asked, a Markdown summary for CI step summaries).
Module map: ``load`` reads runs, ``verdict`` decides the claims, ``plots`` draws, ``html`` and
``markdown`` render, ``fmt`` formats numbers with their units. ``build_dashboard`` draws a device's
history (``bench.history``) over time with its change points (``changepoints``, ``dashboard``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ghostbench.core import atomic

if TYPE_CHECKING:
    import pandas as pd

MAX_NAME_RUNS = 3


def default_output(run_ids: Sequence[str], reports_dir: Path = Path("reports")) -> Path:
    """``reports/<run_id>.html``; several runs join their ids with ``+`` (beyond three: a count)."""
    ids = list(run_ids)
    stem = "+".join(ids) if len(ids) <= MAX_NAME_RUNS else f"{ids[0]}+{len(ids) - 1}-more"
    return reports_dir / f"{stem}.html"


def build_report(
    run_dirs: Sequence[str | os.PathLike],
    out_path: str | os.PathLike | None = None,
    markdown_path: str | os.PathLike | None = None,
    models: Sequence[str] = (),
) -> Path:
    """Write the HTML report of ``run_dirs`` (default path: :func:`default_output`) and return its
    path; ``models`` (fnmatch patterns) selects the models of the distribution plots."""
    from ghostbench.reports.html import build_context, render_html
    from ghostbench.reports.load import load
    from ghostbench.reports.markdown import render_markdown

    data = load([Path(p) for p in run_dirs])
    context = build_context(data, models)
    out = Path(out_path) if out_path is not None else default_output([r["run_id"] for r in context["runs"]])
    atomic.write_text(out, render_html(context))
    if markdown_path is not None:
        atomic.write_text(markdown_path, render_markdown(context))
    return out


def build_dashboard(
    frame: pd.DataFrame,
    device: str,
    *,
    run_noise: float,
    noise_source: str,
    out_path: str | os.PathLike | None = None,
    json_path: str | os.PathLike | None = None,
) -> list[dict]:
    """Write the dashboard of one device's history ``frame`` (``bench.history.read``) and/or its
    change points as JSON; return the change points."""
    from ghostbench.reports.dashboard import build_context, render

    context = build_context(frame, device, run_noise, noise_source)
    points = [p.to_dict() for p in context["change_points"]]
    if out_path is not None:
        atomic.write_text(out_path, render(context))
    if json_path is not None:
        summary = {
            "device": device,
            "runs": context["runs"],
            "cells": context["cells"],
            "first": context["first"],
            "last": context["last"],
            "run_noise": run_noise,
            "noise_source": noise_source,
            "rule": context["rule"],
            "change_points": points,
        }
        atomic.write_text(json_path, json.dumps(summary, indent=2) + "\n")
    return points


__all__ = ["build_dashboard", "build_report", "default_output"]
