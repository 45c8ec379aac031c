"""Comparisons as text: the per-cell change, interval, margin and p-value, the summary line and
the Markdown for ``$GITHUB_STEP_SUMMARY`` (``ghostbench compare --markdown``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ghostbench.bench.compare import result
from ghostbench.reports.fmt import change, change_range, finite, ms
from ghostbench.reports.markdown import md

if TYPE_CHECKING:
    from ghostbench.bench.compare.result import Comparison

STATUS_TEXT: dict[str, str] = {
    result.REGRESSION: "slower",
    result.FAILED: "fails now",
    result.IMPROVEMENT: "faster",
    result.NOT_COMPARABLE: "not comparable",
    result.BASELINE_FAILED: "failed in baseline",
    result.ONLY_BASELINE: "only in baseline",
    result.ONLY_NEW: "only in new run",
    result.UNCHANGED: "within noise",
}


def fmt_margin(margin: object) -> str:
    return f"±{100 * margin:.1f} %" if finite(margin) else "–"


def fmt_p(p: object) -> str:
    if not finite(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def summary_line(comparison: Comparison) -> str:
    """``2 slower, 1 faster, 30 within noise (of 33 cells); threshold 5.0 %, run noise 3.0 %, ...``."""
    parts = [f"{n} {STATUS_TEXT[s]}" for s, n in comparison.counts.items() if n]
    return (
        f"{', '.join(parts)} (of {len(comparison.cells)} cells); "
        f"threshold {100 * comparison.threshold:.1f} %, run noise {100 * comparison.run_noise:.1f} %, "
        f"{comparison.confidence:.0%} intervals"
    )


def to_markdown(comparison: Comparison) -> str:
    """A GitHub-flavoured Markdown summary (for ``$GITHUB_STEP_SUMMARY``); every string from a
    results file is escaped."""
    c = comparison
    verdict = "**regression**" if c.regressed else "no regression"
    out = [
        f"## ghostbench compare: {verdict}",
        "",
        f"Baseline `{md(c.baseline.run_id)}` → new `{md(c.new.run_id)}`: {md(summary_line(c))}.",
        "",
        "| cell | verdict | baseline | new | change | 95 % interval | margin | p (MWU) | note |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for cell in c.cells:
        status = STATUS_TEXT[cell.status]
        if cell.status in (result.REGRESSION, result.FAILED):
            status = f"**{status}**"
        out.append(
            f"| {md(cell.cell)} | {status} | {ms(cell.baseline_ms)} | {ms(cell.new_ms)} | "
            f"{change(cell.ratio)} | {change_range(cell.ratio_low, cell.ratio_high)} | "
            f"{fmt_margin(cell.margin)} | {fmt_p(cell.p_value)} | {md(cell.reason)} |"
        )
    out.append("")
    if c.environment:
        out += ["**Environment differences**", "", "| what | baseline | new |", "| --- | --- | --- |"]
        out += [f"| {md(d.key)} | {md(d.baseline)} | {md(d.new)} |" for d in c.environment]
        out.append("")
    out += [f"> {md(note)}" for note in c.notes]
    out += ["", f"Run noise: {md(c.run_noise_source)}.", "", f"Rule: {md(result.RULE)}."]
    return "\n".join(out) + "\n"
