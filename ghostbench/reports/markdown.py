"""A short Markdown summary of the report (verdicts and the median-latency table) for CI step
summaries. Every string from a results file is escaped for GitHub-flavoured Markdown tables."""

from __future__ import annotations

import html

from ghostbench.reports.fmt import printable

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|~"})


def md(text: object) -> str:
    """Text safe inside a Markdown table cell: no markup, no raw HTML, no line breaks."""
    flat = printable(" ".join(str(text).split()))
    return html.escape(flat, quote=False).translate(_MD_SPECIAL)


def render_markdown(context: dict) -> str:
    """The verdict table, each group's verdict, and the models x groups median latency table."""
    runs = ", ".join(md(r["run_id"]) for r in context["runs"])
    out = [f"## ghostbench report: {runs}", "", "| claim | verdict | why |", "| --- | --- | --- |"]
    for c in context["claims"]:
        out.append(f"| {md(c['title'])} | **{c['summary']['status']}** | {md(c['summary']['why'])} |")
    out.append("")
    for c in context["claims"]:
        if not c["groups"]:
            continue
        out.append(f"**{md(c['title'])}**")
        out.append("")
        out += [f"- {v['status']}: {md(v['group'])}: {md(v['why'])}" for v in c["groups"]]
        out.append("")
    for r in context["runs"]:
        if r["partial"]:
            out += [f"> Run {md(r['run_id'])} has status {md(r['status'])}: its results are partial.", ""]
    ov = context["overview"]
    if ov["rows"]:
        out.append("### Median latency per group")
        out.append("")
        out.append("| model | family | " + " | ".join(md(h["text"]) for h in ov["headers"]) + " |")
        out.append("| --- | --- |" + " ---: |" * len(ov["headers"]))
        for row in ov["rows"]:
            name = f"**{md(row['model'])}**" if row["highlight"] else md(row["model"])
            cols = " | ".join(md(c["text"]) or "–" for c in row["cols"])
            out.append(f"| {name} | {md(row['family'])} | {cols} |")
        out.append("")
    out.append(
        f"Rules and numbers behind each verdict are in the HTML report (ghostbench {md(context['version'])})."
    )
    return "\n".join(out) + "\n"
