"""The self-contained HTML report: one file, figures inlined as data URIs, no network requests.

``build_context`` turns loaded runs into plain values for the template (pure); ``render_html``
fills ``templates/report.html.j2`` with Jinja2 autoescape on, so every string from a results file
is text, never markup. A Content-Security-Policy allows only inline images and the report's own
style and script (by hash), so even a string that slipped through could neither run nor fetch.
``build_report`` (in ``ghostbench.reports``) is the one function that writes files.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import math
import shlex
from collections.abc import Sequence
from importlib import resources

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ghostbench import __version__
from ghostbench.reports import fmt, plots, verdict
from ghostbench.reports.load import ReportData, ordered

ENV_MAX_DEPTH = 8


def asset(name: str) -> str:
    return resources.files("ghostbench.reports").joinpath(f"templates/{name}").read_text(encoding="utf-8")


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format(value, ".6g")
    return str(value)


def env_tree(value: object, key: str = "", depth: int = 0) -> dict:
    """Any JSON value as a node for the template: ``{"unavailable": why}`` is shown as such, lists of
    scalars inline, deeper nesting than ``ENV_MAX_DEPTH`` as text (the env collector's layout may change)."""
    if isinstance(value, dict):
        if set(value) == {"unavailable"}:
            return {"key": key, "kind": "unavailable", "text": _scalar(value["unavailable"]), "children": []}
        if depth >= ENV_MAX_DEPTH:
            return {"key": key, "kind": "scalar", "text": str(value), "children": []}
        children = [env_tree(v, str(k), depth + 1) for k, v in value.items()]
        return {"key": key, "kind": "map", "text": "", "children": children}
    if isinstance(value, list | tuple):
        if all(not isinstance(v, dict | list | tuple) for v in value):
            return {
                "key": key,
                "kind": "scalar",
                "text": ", ".join(_scalar(v) for v in value),
                "children": [],
            }
        children = [env_tree(v, f"[{i}]", depth + 1) for i, v in enumerate(value)]
        return {"key": key, "kind": "map", "text": "", "children": children}
    return {"key": key, "kind": "scalar", "text": _scalar(value), "children": []}


# The order in which group fields are added to a short label until the labels tell the groups apart.
LABEL_PRIORITY = ("device", "backend", "runtime", "threads", "precision", "options", "device_name", "run_id")


def _label_part(row: pd.Series, key: str) -> str:
    if key == "runtime":
        return f"{row['runtime']} {row['runtime_version']}".strip()
    if key == "threads":
        return f"{row['threads']} thread" + ("s" if row["threads"] != 1 else "")
    if key == "run_id":
        return f"run {row['run_id']}"
    return str(row[key])


def short_labels(cells: pd.DataFrame, groups: Sequence[str]) -> dict[str, str]:
    """Column labels for the groups shown: device and backend, then each further field (runtime with
    its version, threads, precision, ...) that tells more groups apart, until all are distinct."""
    first = cells.drop_duplicates("group").set_index("group").loc[list(groups)]

    def distinct(keys: Sequence[str]) -> int:
        return first.apply(lambda row: " · ".join(_label_part(row, k) for k in keys), axis=1).nunique()

    keys = ["device", "backend"]
    for key in LABEL_PRIORITY[2:]:
        if distinct(keys) == len(first):
            break
        if distinct([*keys, key]) > distinct(keys):
            keys.append(key)
    return {
        str(g): " · ".join(p for p in (_label_part(row, k) for k in keys) if p) for g, row in first.iterrows()
    }


def _num_cell(value: object, text: str) -> dict:
    """A numeric table cell: shown text plus the raw number the sort script uses (empty if missing)."""
    v = float(value) if isinstance(value, int | float | np.integer | np.floating) else math.nan
    return {"text": text, "v": repr(v) if math.isfinite(v) else "", "cls": "num"}


def _top1_text(r: object) -> str:
    if not r.accuracy_valid:
        return ""
    return fmt.pct(r.top1) + (f" ({r.top1_kind})" if r.top1_kind in ("measured", "given") else "")


def _txt(text: str, cls: str = "") -> dict:
    return {"text": text, "v": None, "cls": cls}


def _cells_rows(cells: pd.DataFrame) -> list[dict]:
    rows = []
    for r in cells.itertuples():
        rows.append(
            {
                "error": r.status != "ok",
                "cols": [
                    _txt(r.run_id),
                    _txt(r.device),
                    _txt(r.backend + (f" [{r.options}]" if r.options else "")),
                    _txt(f"{r.runtime} {r.runtime_version}".strip()),
                    _txt(r.precision),
                    _num_cell(r.threads, str(r.threads)),
                    _txt(r.model),
                    _txt(r.family),
                    _txt(r.status),
                    _num_cell(r.median_ms, fmt.ms(r.median_ms)),
                    _num_cell(r.p90_ms, fmt.ms(r.p90_ms)),
                    _num_cell(r.p99_ms, fmt.ms(r.p99_ms)),
                    _num_cell(r.ci_low_ms, fmt.ms_range(r.ci_low_ms, r.ci_high_ms)),
                    _num_cell(r.cv, fmt.ratio_pct(r.cv)),
                    _num_cell(r.n, fmt.integer(r.n)),
                    _num_cell(r.windows, fmt.integer(r.windows)),
                    _num_cell(r.window_spread, fmt.ratio_pct(r.window_spread)),
                    _num_cell(r.first_ms, fmt.ms(r.first_ms)),
                    _num_cell(r.load_ms, fmt.ms(r.load_ms)),
                    _txt(r.flags.replace(";", ", "), "flags"),
                    _num_cell(r.top1 if r.accuracy_valid else math.nan, _top1_text(r)),
                    _num_cell(r.params, fmt.count(r.params)),
                    _num_cell(r.macs, fmt.count(r.macs)),
                    _num_cell(r.activations, fmt.count(r.activations)),
                ],
            }
        )
    return rows


CELL_HEADERS: tuple[tuple[str, bool], ...] = (
    ("run", False),
    ("device", False),
    ("backend", False),
    ("runtime", False),
    ("precision", False),
    ("threads", True),
    ("model", False),
    ("family", False),
    ("status", False),
    ("median", True),
    ("p90", True),
    ("p99", True),
    ("95% CI of median", True),
    ("CV", True),
    ("samples", True),
    ("windows", True),
    ("window spread", True),
    ("first inference", True),
    ("load", True),
    ("flags", False),
    ("top-1", True),
    ("params", True),
    ("MACs", True),
    ("activations", True),
)


def _overview(cells: pd.DataFrame, groups: list[str], short: dict[str, str]) -> dict:
    """Models x groups: median latency (CI in the tooltip), the report's top table."""
    first = cells[cells["group"] == groups[0]] if groups else cells
    fastest = first.set_index("model")["median_ms"].to_dict()
    fam = cells.drop_duplicates("model").set_index("model")["family"].to_dict()
    order = plots.family_order(list(set(fam.values())))
    models = sorted(
        fam,
        key=lambda m: (
            order.index(fam[m]),
            fastest.get(m, math.inf) if pd.notna(fastest.get(m)) else math.inf,
            m,
        ),
    )
    lookup = {(r.group, r.model): r for r in cells.itertuples()}
    rows = []
    for m in models:
        cols = []
        for g in groups:
            r = lookup.get((g, m))
            if r is None:
                cols.append({"text": "", "v": "", "title": "not measured in this group"})
            elif r.status != "ok":
                cols.append({"text": "error", "v": "", "title": r.error[-300:]})
            else:
                cols.append(
                    {
                        "text": fmt.ms(r.median_ms),
                        "v": repr(float(r.median_ms)),
                        "title": f"95% CI {fmt.ms_range(r.ci_low_ms, r.ci_high_ms)}, "
                        f"CV {fmt.ratio_pct(r.cv)}",
                    }
                )
        rows.append({"model": m, "family": fam[m], "highlight": fam[m] in plots.HIGHLIGHT, "cols": cols})
    return {"headers": [{"text": short[g], "title": g} for g in groups], "rows": rows}


def _sources(cells: pd.DataFrame) -> list[dict]:
    """One row per (model, top-1, kind, source), listing the precisions it was used for."""
    ok = cells[cells["accuracy_valid"] & cells["top1"].notna()]
    keys = ["model", "top1", "top1_kind", "top1_source"]
    rows = []
    for (model, top1, kind, source), sub in ok.groupby(keys, sort=True):
        rows.append(
            {
                "model": model,
                "precision": ", ".join(sorted(set(sub["precision"]))),
                "top1": f"{top1:g} %",
                "kind": kind or "published",
                "source": source or "(no source recorded in the results)",
            }
        )
    return rows


def _parity(cells: pd.DataFrame) -> list[dict]:
    rows = []
    for r in cells[cells["artifact_sha256"] != ""].itertuples():
        measured = math.isfinite(r.parity_cosine) or math.isfinite(r.parity_max_abs)
        failed = "parity_failed" in r.flags.split(";")
        rows.append(
            {
                "run_id": r.run_id,
                "model": r.model,
                "backend": r.backend,
                "precision": r.precision,
                "sha": r.artifact_sha256,
                "cosine": f"{r.parity_cosine:.7g}" if math.isfinite(r.parity_cosine) else "–",
                "max_abs": f"{r.parity_max_abs:.2e}" if math.isfinite(r.parity_max_abs) else "–",
                "verdict": "failed" if failed else ("ok" if measured else "not measured"),
            }
        )
    return rows


def _skipped(run_id: str, skipped: object) -> list[dict]:
    if not isinstance(skipped, list):
        return []
    out = []
    for item in skipped:
        if isinstance(item, dict):
            out.append(
                {"run_id": run_id, "cell": str(item.get("cell", "")), "reason": str(item.get("reason", ""))}
            )
        else:
            out.append({"run_id": run_id, "cell": str(item), "reason": ""})
    return out


def _verdict_ctx(v: verdict.Verdict) -> dict:
    return {"group": v.group, "status": v.status, "why": v.why, "header": v.header, "rows": v.rows}


def build_context(data: ReportData, models: Sequence[str] = ()) -> dict:
    """Every value the template shows, as text with units; figures as data URIs."""
    cells = data.cells
    is_det = cells["family"].isin(verdict.NOT_CLASSIFIERS)
    cls_cells = cells[~is_det]
    # Figures and columns only for groups with at least one successful cell; failures are tabled.
    measured = cls_cells[cls_cells["status"] == "ok"]
    groups = ordered(measured["group"])
    panels = ordered(measured["panel"])
    short = short_labels(cells, ordered(cells["group"])) if len(cells) else {}

    verdicts = verdict.evaluate(cls_cells)
    summary = verdict.overall(verdicts)
    claims = []
    for claim, summ in zip(verdict.CLAIMS, summary, strict=True):
        claims.append(
            {
                "key": claim.key,
                "title": claim.title,
                "rule": claim.rule,
                "summary": _verdict_ctx(summ),
                "groups": [_verdict_ctx(v) for v in verdicts if v.claim == claim.key],
            }
        )

    accuracy = []
    for p in panels:
        panel = cls_cells[cls_cells["panel"] == p]
        uri, left_out = plots.accuracy_latency(panel, p)
        no_accuracy = sorted(set(panel.loc[(panel["status"] == "ok") & panel["top1"].isna(), "model"]))
        accuracy.append({"label": p, "img": uri, "left_out": left_out, "no_accuracy": no_accuracy})
    complexity = [
        {
            "label": g,
            "img": plots.complexity_latency(
                cls_cells[cls_cells["group"] == g], g, [("activations", "activations"), ("macs", "MACs")]
            ),
        }
        for g in groups
    ]

    run_count = cls_cells["run_id"].nunique()
    rank = None
    if len(groups) >= 2 and run_count >= 2:
        rank = plots.rank_change(cls_cells, groups, short)

    samples = data.samples
    if len(samples):
        by_cell = samples.groupby(["run_id", "cell"], sort=False)["latency_ns"]
        samples_ms = {k: v.to_numpy(dtype=float) / 1e6 for k, v in by_cell}
        wins = samples.groupby(["run_id", "cell", "window"], sort=False)["latency_ns"].median() / 1e6
        window_ms = {k: v.to_numpy(dtype=float) for k, v in wins.groupby(level=[0, 1], sort=False)}
    else:
        samples_ms, window_ms = {}, {}
    chosen = cells
    if models:
        chosen = cells[cells["model"].map(lambda m: any(fnmatch.fnmatchcase(m, pat) for pat in models))]
    distributions = [
        {"label": p, "img": plots.distributions(chosen[chosen["panel"] == p], samples_ms, window_ms, p)}
        for p in ordered(chosen[chosen["status"] == "ok"]["panel"])
    ]

    detection = None
    if is_det.any():
        det = cells[is_det]
        detection = {
            "figures": [
                {
                    "label": g,
                    "img": plots.complexity_latency(
                        det[det["group"] == g],
                        g,
                        [("params", "parameters"), ("macs", "MACs"), ("activations", "activations")],
                    ),
                }
                for g in ordered(det[det["status"] == "ok"]["group"])
            ],
            "rows": [
                {
                    "group": short.get(r.group, r.group),
                    "model": r.model,
                    "status": r.status,
                    "median": _num_cell(r.median_ms, fmt.ms(r.median_ms)),
                    "ci": fmt.ms_range(r.ci_low_ms, r.ci_high_ms),
                    "params": _num_cell(r.params, fmt.count(r.params)),
                    "macs": _num_cell(r.macs, fmt.count(r.macs)),
                    "acts": _num_cell(r.activations, fmt.count(r.activations)),
                }
                for r in det.itertuples()
            ],
        }

    runs, skipped = [], []
    for run in data.runs:
        info = run.info
        run_id = str(info.get("run_id", run.path.name))
        mine = cells[cells["run_id"] == run_id]
        command = info.get("command", "")
        status = str(info.get("status", "unknown"))
        listed = _skipped(run_id, info.get("skipped"))
        runs.append(
            {
                "run_id": run_id,
                "path": str(run.path),
                "status": status,
                "partial": status != "complete",
                "created": str(info.get("created", "")),
                "finished": str(info.get("finished", "")),
                "command": shlex.join(map(str, command)) if isinstance(command, list) else str(command),
                "devices": ", ".join(ordered(mine["device"])) or "–",
                "ok": int((mine["status"] == "ok").sum()),
                "errors": int((mine["status"] != "ok").sum()),
                "skipped": len(listed),
                "overhead": _scalar(info.get("overhead_ns")) + " ns"
                if info.get("overhead_ns") is not None
                else "–",
                "speed_probe": _speed_probe(info.get("speed_probe")),
                "accuracy_csv": run.accuracy is not None,
                "options": env_tree(info.get("options", {})),
                "env": env_tree(info.get("env", {})),
            }
        )
        skipped += listed
    failed = [
        {"run_id": r.run_id, "cell": r.cell, "error": r.error or "(no message recorded)"}
        for r in cells[cells["status"] != "ok"].itertuples()
    ]
    flagged = int((cells["flags"] != "").sum())
    parity = _parity(cells)
    return {
        "version": __version__,
        "title": "ghostbench report: " + ", ".join(r["run_id"] for r in runs),
        "runs": runs,
        "claims": claims,
        "summary_rule": verdict.RULE_SUMMARY,
        "overview": _overview(cls_cells, groups, short),
        "accuracy": accuracy,
        "sources": _sources(cls_cells),
        "complexity": complexity,
        "rank": rank,
        "rank_note": f"{len(groups)} group(s) from {run_count} run(s)",
        "distributions": distributions,
        "models_filter": ", ".join(models),
        "detection": detection,
        "cell_headers": CELL_HEADERS,
        "cells": _cells_rows(cells),
        "flagged": flagged,
        "skipped": skipped,
        "failed": failed,
        "parity": parity,
        "parity_failed": sum(p["verdict"] == "failed" for p in parity),
        "parity_unmeasured": sum(p["verdict"] == "not measured" for p in parity),
    }


def _speed_probe(probe: object) -> str:
    """``run.json`` ``speed_probe`` as one line: seconds per repetition at the run's start and end."""
    if not isinstance(probe, dict):
        return "–"
    parts = []
    for when in ("start", "end"):
        value = probe.get(when)
        if isinstance(value, dict) and "unavailable" in value:
            parts.append(f"{when}: unavailable ({_scalar(value['unavailable'])})")
        elif isinstance(value, dict):
            found = [f"{c} {_scalar(value.get(f'{c}_s'))} s" for c in ("compute", "memory")]
            parts.append(f"{when}: {', '.join(found)}")
    return "; ".join(parts) or "–"


def templates() -> Environment:
    """The package's templates, autoescaped (every value is text) and strict (a missing value fails)."""
    return Environment(
        loader=PackageLoader("ghostbench.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(context: dict) -> str:
    """Fill the template; autoescape makes every value text. The style and script are the report's
    own files, inserted as markup and allowed by hash in the Content-Security-Policy."""
    css, js = asset("report.css"), asset("sort.js")
    csp = (
        "default-src 'none'; img-src data:; "
        f"style-src {csp_hash(css)}; script-src {csp_hash(js)}; base-uri 'none'; form-action 'none'"
    )
    return (
        templates().get_template("report.html.j2").render(**context, css=Markup(css), js=Markup(js), csp=csp)
    )
