"""The report's figures: matplotlib's Agg canvas (no pyplot, no global backend) to PNG data URIs.

One style for every figure; each family has a fixed colour, C-Ghost and G-Ghost are drawn larger
with a dark edge and bold labels. Text never goes through mathtext (``text.parse_math`` off), so a
model name with ``$`` or markup is drawn as typed. Functions take tables and return ``data:`` URIs:
no I/O.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import ParamSpec, TypeVar

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ghostbench.reports import fmt
from ghostbench.reports.curves import Point, loglog_fit, pareto_front, spearman_rows
from ghostbench.reports.load import FULL_PRECISIONS
from ghostbench.reports.verdict import NOT_CLASSIFIERS

FAMILY_COLORS: dict[str, str] = {
    "c-ghost": "#d62728",
    "g-ghost": "#1f4e9c",
    "ghostnetv2": "#f28e8e",
    "regnet": "#8fb6dc",
    "mobilenet": "#2ca02c",
    "shufflenet": "#9467bd",
    "efficientnet": "#ff7f0e",
    "resnet": "#8c564b",
    "ghost-resnet": "#e377c2",
    "detection": "#17becf",
    "user": "#bcbd22",  # your own models (docs/own-models.md)
}
OTHER_COLOR = "#7f7f7f"
# How the top-1 of a point was obtained: published (circle), given by the user, measured.
TOP1_MARKERS: dict[str, str] = {"published": "o", "given": "s", "measured": "D"}
HIGHLIGHT = ("c-ghost", "g-ghost")
STYLE: dict[str, object] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.grid": True,
    "axes.grid.which": "both",
    "grid.alpha": 0.25,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "text.parse_math": False,
}
DPI = 100
LABEL_PT = 7.0
# boxplot's orientation keyword replaced vert=False in matplotlib 3.10.
HORIZONTAL: dict[str, object] = (
    {"orientation": "horizontal"}
    if tuple(int(p) for p in matplotlib.__version__.split(".")[:2]) >= (3, 10)
    else {"vert": False}
)
P = ParamSpec("P")
R = TypeVar("R")


def color(family: str) -> str:
    return FAMILY_COLORS.get(family, OTHER_COLOR)


def family_order(families: Sequence[str]) -> list[str]:
    """Known families in a fixed order, unknown ones after them alphabetically."""
    known = [f for f in FAMILY_COLORS if f in families]
    return known + sorted(set(families) - set(known))


def styled(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a figure function under the report style (rc parameters are read as artists are made)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def _figure(width: float, height: float) -> Figure:
    """A figure drawn by Agg (set on the figure, not globally: no pyplot state is touched)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _wrap(title: str, width: int) -> str:
    return "\n".join(textwrap.wrap(title, width))


def _log_axis(ax: Axes, which: str, values: np.ndarray, counts: bool = False) -> None:
    """Log scale labelled in plain numbers (counts as 2 M, 1 G); 1-2-5 steps when the data span few
    decades, so a 2 ms to 40 ms axis still gets labels."""
    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    v = values[np.isfinite(values) & (values > 0)]
    decades = math.log10(v.max() / v.min()) if len(v) else 0.0
    subs = (1.0,) if decades > 2.5 else (1.0, 2.0, 5.0) if decades > 0.8 else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(
        FuncFormatter(lambda x, _pos: fmt.count(x, digits=2) if counts else fmt.num(x, 2))
    )
    axis.set_minor_formatter(NullFormatter())


def _family_handles(families: Sequence[str]) -> list[Line2D]:
    return [
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            color=color(f),
            markeredgecolor="black" if f in HIGHLIGHT else color(f),
            markersize=8 if f in HIGHLIGHT else 6,
            label=f,
        )
        for f in family_order(families)
    ]


def _style_for(family: str) -> dict:
    big = family in HIGHLIGHT
    return {
        "s": 70 if big else 32,
        "edgecolors": "black" if big else color(family),
        "linewidths": 1.2 if big else 0.8,
        "zorder": 4 if big else 3,
    }


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _label_points(
    fig: Figure, per_axes: Sequence[tuple[Axes, Sequence[tuple[float, float, str, bool]]]]
) -> None:
    """Name each point (x, y, text, bold) beside it, choosing for each label the first nearby spot
    that covers no other label or point (greedy, in pixels after one layout pass)."""
    if not any(items for _, items in per_axes):
        return
    fig.draw_without_rendering()
    scale = DPI / 72.0
    h = LABEL_PT * 1.3 * scale
    for ax, items in per_axes:
        if not items:
            continue
        px = ax.transData.transform([(x, y) for x, y, _, _ in items])
        marks = [(x - 6, y - 6, x + 6, y + 6) for x, y in px]
        frame = ax.get_window_extent()
        placed: list[tuple[float, float, float, float]] = []
        for i in sorted(range(len(items)), key=lambda i: (px[i][0], px[i][1])):
            x, y = px[i]
            w = len(items[i][2]) * LABEL_PT * 0.62 * scale
            best, best_cost = (6.0, 2.0), math.inf
            for dy in (2, -h - 2, h + 2, -2 * h - 4, 2 * h + 4, -3 * h - 6):
                for dx in (6, -w - 6, -w / 2):
                    box = (x + dx, y + dy, x + dx + w, y + dy + h)
                    cost = sum(_overlap(box, o) for o in placed)
                    cost += sum(_overlap(box, m) for j, m in enumerate(marks) if j != i)
                    inside = (
                        frame.x0 <= box[0]
                        and box[2] <= frame.x1
                        and frame.y0 <= box[1]
                        and box[3] <= frame.y1
                    )
                    cost += 0.0 if inside else 1e4
                    if cost < best_cost:
                        best, best_cost = (dx, dy), cost
                if best_cost == 0:
                    break
            dx, dy = best
            placed.append((x + dx, y + dy, x + dx + w, y + dy + h))
            ann = ax.annotate(
                items[i][2],
                (items[i][0], items[i][1]),
                xytext=(dx / scale, dy / scale),
                textcoords="offset points",
                ha="left",
                va="bottom",
                fontsize=LABEL_PT,
                fontweight="bold" if items[i][3] else "normal",
            )
            ann.set_in_layout(False)


def _classifiers(cells: pd.DataFrame) -> pd.DataFrame:
    ok = cells["status"] == "ok"
    return cells[ok & cells["median_ms"].notna() & ~cells["family"].isin(NOT_CLASSIFIERS)]


@styled
def accuracy_latency(cells: pd.DataFrame, title: str) -> tuple[str, int]:
    """Top-1 vs median latency with CI bars and the Pareto front; returns (URI, cells left out).

    Cells whose precision changes accuracy (int8) are left out unless their top-1 was measured.
    """
    ok = _classifiers(cells)
    pts = ok[ok["accuracy_valid"]]
    left_out = int((ok["top1"].notna() & ~ok["accuracy_valid"]).sum())
    fig = _figure(8.4, 5.4)
    fig.get_layout_engine().set(rect=(0.0, 0.04, 1.0, 0.96))  # room for the footnote
    ax = fig.add_subplot()
    labels = []
    for r in pts.itertuples():
        full = r.precision in FULL_PRECISIONS
        c = color(r.family)
        ax.errorbar(
            r.median_ms,
            r.top1,
            xerr=[[max(r.median_ms - r.ci_low_ms, 0.0)], [max(r.ci_high_ms - r.median_ms, 0.0)]],
            fmt="none",
            ecolor=c,
            elinewidth=1.0,
            capsize=2,
            zorder=2,
        )
        style = _style_for(r.family)
        if not full:
            style["edgecolors"] = c
        ax.scatter(
            [r.median_ms],
            [r.top1],
            marker=TOP1_MARKERS.get(r.top1_kind, "o"),
            facecolors=c if full else "white",
            **style,
        )
        text = r.model if r.precision == "fp32" else f"{r.model} {r.precision}"
        labels.append((r.median_ms, r.top1, text, r.family in HIGHLIGHT))
    # A measured low-precision point sits next to its fp32 point: join them.
    for _model, sub in pts.groupby("model"):
        base = sub[sub["precision"] == "fp32"]
        if base.empty:
            continue
        b = base.iloc[0]
        for r in sub[~sub["precision"].isin(FULL_PRECISIONS)].itertuples():
            ax.plot([b["median_ms"], r.median_ms], [b["top1"], r.top1], ls=":", color=color(r.family), lw=1)
    points = [
        Point(r.model, r.family, r.median_ms, r.ci_low_ms, r.ci_high_ms, r.top1) for r in pts.itertuples()
    ]
    front = pareto_front(points)
    if front:
        ax.step(
            [p.latency_ms for p in front],
            [p.top1 for p in front],
            where="post",
            color="black",
            lw=1,
            ls="--",
            alpha=0.6,
            zorder=1,
        )
    if pts.empty:
        ax.text(0.5, 0.5, "no cell with a valid top-1", ha="center", va="center", transform=ax.transAxes)
    else:
        _log_axis(ax, "x", pts["median_ms"].to_numpy(dtype=float))
    ax.set_xlabel("median latency (ms, log scale); bars: 95% CI of the median")
    ax.set_ylabel("ImageNet top-1 (%)")
    ax.set_title(_wrap(title, 80))
    kinds = [Line2D([], [], ls="", marker="o", color="#444", label="published top-1")]
    if (pts["top1_kind"] == "given").any():
        kinds.append(Line2D([], [], ls="", marker="s", color="#444", label="given top-1 (--accuracy)"))
    if (pts["top1_kind"] == "measured").any():
        kinds.append(Line2D([], [], ls="", marker="D", color="#444", label="measured top-1"))
    if (~pts["precision"].isin(FULL_PRECISIONS)).any():
        hollow = Line2D(
            [], [], ls="", marker="o", markerfacecolor="white", color="#444", label="reduced precision"
        )
        kinds.append(hollow)
    kinds.append(Line2D([], [], ls="--", color="black", alpha=0.6, label="Pareto front (median)"))
    handles = _family_handles(sorted(set(pts["family"]))) + kinds
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.text(
        0.01,
        0.008,
        "top-1: published figures unless marked given or measured; every source is listed in the report's "
        "'Accuracy sources' table",
        fontsize=7,
        color="#555",
    )
    _label_points(fig, [(ax, labels)])
    return to_data_uri(fig), left_out


@styled
def complexity_latency(cells: pd.DataFrame, title: str, xs: Sequence[tuple[str, str]]) -> str:
    """Median latency vs each complexity column (``(column, label)``), log-log, with a fitted power law
    and Pearson (of the logs) and Spearman correlations per panel."""
    ok = cells[(cells["status"] == "ok") & cells["median_ms"].notna()]
    fig = _figure(4.3 * len(xs) + 1.6, 4.4)
    axes = fig.subplots(1, len(xs), sharey=True, squeeze=False)[0]
    labels: list[list[tuple[float, float, str, bool]]] = []
    for ax, (col, label) in zip(axes, xs, strict=True):
        sub = ok[ok[col].notna() & (ok[col] > 0)]
        x = sub[col].to_numpy(dtype=float)
        y = sub["median_ms"].to_numpy(dtype=float)
        for fam, part in sub.groupby("family"):
            ax.scatter(part[col], part["median_ms"], color=color(fam), **_style_for(fam))
        labels.append(
            [(getattr(r, col), r.median_ms, r.model, r.family in HIGHLIGHT) for r in sub.itertuples()]
        )
        slope, icpt, r_log = loglog_fit(x, y)
        rho = float(spearman_rows(x, y)) if len(x) >= 3 else math.nan
        if math.isfinite(slope):
            grid = np.geomspace(x.min(), x.max(), 50)
            ax.plot(grid, np.exp(icpt) * grid**slope, color="black", lw=1, alpha=0.6, zorder=1)
        fit = f"\nfit: latency ∝ {label}^{slope:.2f}" if math.isfinite(slope) else "\nno fit (n < 3)"
        ax.text(
            0.03,
            0.97,
            f"n = {len(x)}\nSpearman ρ = {fmt.corr(rho)}\nPearson r (log-log) = {fmt.corr(r_log)}{fit}",
            transform=ax.transAxes,
            va="top",
            fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.9, "edgecolor": "#ccc"},
            zorder=6,
        )
        if len(x):
            _log_axis(ax, "x", x, counts=True)
        ax.set_xlabel(f"{label} (log scale)")
    y_all = ok["median_ms"].to_numpy(dtype=float)
    if len(y_all):
        _log_axis(axes[0], "y", y_all)
    axes[0].set_ylabel("median latency (ms, log scale)")
    fig.suptitle(_wrap(title, 110), fontsize=10)
    fams = sorted(set(ok["family"]))
    axes[-1].legend(handles=_family_handles(fams), loc="upper left", bbox_to_anchor=(1.02, 1.0))
    _label_points(fig, list(zip(axes, labels, strict=True)))
    return to_data_uri(fig)


@styled
def rank_change(cells: pd.DataFrame, groups: Sequence[str], short: Mapping[str, str]) -> str:
    """Slope chart: each model's latency rank (1 = fastest) in each group, adjacent columns joined,
    with Spearman's rho between neighbouring columns on the models they share."""
    ok = _classifiers(cells)
    ranks: dict[str, pd.Series] = {}
    for g in groups:
        ranks[g] = ok[ok["group"] == g].set_index("model")["median_ms"].rank(method="min").astype(int)
    models = sorted({m for r in ranks.values() for m in r.index})
    family = ok.drop_duplicates("model").set_index("model")["family"]
    n_rows = max((len(r) for r in ranks.values()), default=1)
    fig = _figure(max(1.9 * len(groups) + 3.8, 7.0), max(0.3 * n_rows + 2.2, 3.5))
    ax = fig.add_subplot()
    for m in models:
        fam = family.get(m, "")
        big = fam in HIGHLIGHT
        xs = [i for i, g in enumerate(groups) if m in ranks[g].index]
        ys = [int(ranks[groups[i]][m]) for i in xs]
        for k in range(len(xs) - 1):
            if xs[k + 1] == xs[k] + 1:
                ax.plot(
                    xs[k : k + 2],
                    ys[k : k + 2],
                    color=color(fam),
                    lw=2.4 if big else 1.2,
                    alpha=0.9,
                    zorder=3 if big else 2,
                )
        style = _style_for(fam) | {"zorder": 5}
        ax.scatter(xs, ys, color=color(fam), **style)
        weight = "bold" if big else "normal"
        if xs and xs[0] == 0:
            ax.annotate(
                m,
                (0, ys[0]),
                xytext=(-8, 0),
                textcoords="offset points",
                ha="right",
                va="center",
                fontsize=7.5,
                fontweight=weight,
            )
        if xs and xs[-1] == len(groups) - 1:
            ax.annotate(
                m,
                (xs[-1], ys[-1]),
                xytext=(8, 0),
                textcoords="offset points",
                va="center",
                fontsize=7.5,
                fontweight=weight,
            )
    for i in range(len(groups) - 1):
        a, b = ranks[groups[i]], ranks[groups[i + 1]]
        common = a.index.intersection(b.index)
        if len(common) >= 3:
            rho = float(spearman_rows(a[common].to_numpy(float), b[common].to_numpy(float)))
            text = f"Spearman ρ = {fmt.corr(rho)}\n(n = {len(common)})"
        else:
            text = f"n = {len(common)} shared"
        ax.text(i + 0.5, 0.3, text, ha="center", va="bottom", fontsize=7.5, color="#333")
    ax.set_xticks(range(len(groups)), [_wrap(short[g], 24) for g in groups], fontsize=8)
    ax.set_xlim(-0.9, len(groups) - 0.1)
    ax.set_ylim(n_rows + 0.6, -0.3)
    ax.set_yticks(range(1, n_rows + 1))
    ax.set_ylabel("latency rank in the group (1 = fastest)")
    ax.grid(axis="x", visible=False)
    fams = sorted({family.get(m, "") for m in models})
    ax.legend(handles=_family_handles(fams), loc="upper left", bbox_to_anchor=(1.1, 1.0))
    return to_data_uri(fig)


@styled
def distributions(
    cells: pd.DataFrame,
    samples_ms: Mapping[tuple[str, str], np.ndarray],
    window_medians_ms: Mapping[tuple[str, str], np.ndarray],
    title: str,
) -> str:
    """Per cell, the raw samples relative to the cell's median (box: quartiles, whiskers: p1 to
    p99) and each measurement window's median as a tick; relative, so a 1 ms and a 100 ms model
    show their spread at the same scale. Fastest cell at the top."""
    ok = cells[cells["status"] == "ok"].sort_values("median_ms", ascending=False)
    rows = [r for r in ok.itertuples() if len(samples_ms.get((r.run_id, r.cell), ())) > 0]
    fig = _figure(8.4, 0.34 * len(rows) + 1.6)
    ax = fig.add_subplot()
    if not rows:
        ax.text(0.5, 0.5, "no raw samples for these cells", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return to_data_uri(fig)
    rel = []
    for r in rows:
        s = samples_ms[(r.run_id, r.cell)]
        rel.append(100.0 * (s / np.median(s) - 1.0))
    labels = [
        f"{r.model}{'' if r.precision == 'fp32' else ' ' + r.precision} ({fmt.ms(r.median_ms)})" for r in rows
    ]
    box = ax.boxplot(
        rel,
        **HORIZONTAL,
        whis=(1, 99),
        showfliers=False,
        widths=0.6,
        patch_artist=True,
        medianprops={"color": "black"},
    )
    for patch, r in zip(box["boxes"], rows, strict=True):
        patch.set_facecolor(color(r.family))
        patch.set_alpha(0.6)
        if r.family in HIGHLIGHT:
            patch.set_edgecolor("black")
            patch.set_linewidth(1.4)
    for i, r in enumerate(rows, start=1):
        s = samples_ms[(r.run_id, r.cell)]
        wm = 100.0 * (window_medians_ms.get((r.run_id, r.cell), np.array([])) / np.median(s) - 1.0)
        ax.scatter(wm, np.full(len(wm), i + 0.36), s=30, color="black", marker="|", zorder=5)
    ax.set_yticks(range(1, len(rows) + 1), labels, fontsize=7.5)
    for tick, r in zip(ax.get_yticklabels(), rows, strict=True):
        if r.family in HIGHLIGHT:
            tick.set_fontweight("bold")
    ax.axvline(0, color="#555", lw=0.8)
    ax.set_xlabel(
        "latency relative to the cell's median (%)\n"
        "box: quartiles, whiskers: p1 to p99, ticks: window medians"
    )
    ax.set_title(_wrap(title, 80))
    ax.grid(axis="y", visible=False)
    return to_data_uri(fig)
