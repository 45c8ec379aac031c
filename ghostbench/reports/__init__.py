"""The report: a pure function of results directories (no model code runs).

``build_report(run_dirs, out_path)`` reads the runs, computes the verdicts on the two claims and
writes one self-contained HTML file (and, if asked, a Markdown summary for CI step summaries).
Module map: ``load`` reads runs, ``verdict`` decides the claims, ``plots`` draws, ``html`` and
``markdown`` render, ``fmt`` formats numbers with their units.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ghostbench.core import atomic

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


__all__ = ["build_report", "default_output"]
