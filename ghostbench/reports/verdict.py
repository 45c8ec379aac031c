"""Verdicts on the two published claims, computed from measured latencies by rules stated in words.

Each claim gets *confirmed*, *refuted* or *inconclusive* per device/backend group (one run, runtime
and version, precision, thread count), never pooled across groups. A decision needs a difference
beyond the 95% confidence intervals of the medians; anything less, or too little data, is
*inconclusive*, never a guess. Pure functions of :class:`Point` lists: no I/O, no model code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ghostbench.core.stats import finite
from ghostbench.reports import fmt
from ghostbench.reports.curves import Point, loglog_fit, pareto_front, spearman_rows

CONFIRMED, REFUTED, INCONCLUSIVE = "confirmed", "refuted", "inconclusive"
WIN, LOSS, OVERLAP, OUTSIDE, CONFLICT = "win", "loss", "overlap", "outside range", "conflict"

CPU_DEVICES = ("cpu", "pi", "android")
GPU_DEVICES = ("cuda",)
CPU_BASELINES = ("mobilenet", "shufflenet")
NOT_CLASSIFIERS = ("detection",)
MIN_CORR_MODELS = 4
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0

RULE_C_GHOST = (
    "Per CPU/ARM group (device cpu, pi or android), over models whose top-1 applies to their precision "
    "(fp32, fp16: published or measured; int8: measured only). "
    "GhostNet's top-1 at a latency L is the linear interpolation between the GhostNet (family c-ghost) "
    "variants, defined between the fastest and the slowest variant. For each lightweight baseline "
    "(families mobilenet and shufflenet): win if GhostNet's interpolated top-1 with every GhostNet at the "
    "top of its latency CI, read at the bottom of the baseline's CI, is higher than the baseline's, or a "
    "GhostNet at least as accurate is faster beyond both CIs; loss if GhostNet's top-1 with every GhostNet "
    "at the bottom of its CI, read at the top of the baseline's CI, is lower, or the baseline is at least "
    "as accurate as a GhostNet and faster beyond both CIs; outside range if the baseline's CI lies outside "
    "GhostNet's latency range and neither dominates; overlap otherwise. Confirmed: a GhostNet variant is "
    "on the Pareto front of median latency vs top-1, at least one win, no loss and no overlap. Refuted: "
    "any loss, or every GhostNet variant is dominated beyond CIs (another model at least as accurate and "
    "faster beyond both CIs). Otherwise inconclusive."
)
RULE_G_GHOST = (
    "Per GPU group (device cuda), over models whose top-1 applies to their precision (fp32, fp16: "
    "published or measured; int8: measured only). G-Ghost's latency at a top-1 A is the linear "
    "interpolation between the G-Ghost RegNetX (family g-ghost) variants, defined "
    "between the least and the most accurate variant. For every other model (plain RegNetX, family "
    "regnet, and all other families): win if G-Ghost's interpolated latency with every G-Ghost at the top "
    "of its CI is below the bottom of the model's CI, or a G-Ghost at least as accurate is faster beyond "
    "both CIs; loss if G-Ghost's latency with every G-Ghost at the bottom of its CI is above the top of "
    "the model's CI, or the model is at least as accurate as a G-Ghost and faster beyond both CIs; "
    "outside range if the model's top-1 lies outside G-Ghost's range and neither dominates; overlap "
    "otherwise. Confirmed: at least one win against plain RegNetX, and no loss and no overlap against any "
    "family. Refuted: any loss. Otherwise inconclusive."
)
RULE_ACTIVATIONS = (
    f"Per GPU group (device cuda), over all classification models with activations, MACs and a median "
    f"latency (at least {MIN_CORR_MODELS}). d = Spearman rank correlation(activations, latency) minus "
    f"Spearman(MACs, latency). Its 95% interval is the 2.5th to 97.5th percentile of d over "
    f"{BOOTSTRAP_RESAMPLES} bootstrap resamples of the models (seed {BOOTSTRAP_SEED}). Confirmed: the "
    f"interval lies above 0. Refuted: it lies below 0. Otherwise (it contains 0, or too few models) "
    f"inconclusive."
)
RULE_SUMMARY = (
    "Across groups: confirmed if at least one group confirms and none refutes; refuted if at least one "
    "refutes and none confirms; otherwise (no group the claim applies to, only inconclusive groups, or "
    "groups that disagree) inconclusive."
)


@dataclass(frozen=True)
class Claim:
    key: str
    title: str
    devices: tuple[str, ...]
    rule: str


CLAIMS: tuple[Claim, ...] = (
    Claim(
        "c-ghost-cpu",
        "C-Ghost (GhostNet) is the best accuracy/latency trade-off on CPU/ARM",
        CPU_DEVICES,
        RULE_C_GHOST,
    ),
    Claim(
        "g-ghost-gpu",
        "G-Ghost RegNetX is faster than plain RegNetX and the other families at equal accuracy on GPU",
        GPU_DEVICES,
        RULE_G_GHOST,
    ),
    Claim(
        "activations-gpu",
        "Activation count explains GPU latency better than MACs",
        GPU_DEVICES,
        RULE_ACTIVATIONS,
    ),
)


@dataclass(frozen=True)
class Verdict:
    """A claim's outcome in one group (or ``all groups``), with the numbers behind it."""

    claim: str
    group: str
    status: str
    why: str
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def _dominates_beyond_ci(a: Point, b: Point) -> bool:
    """``a`` is at least as accurate as ``b`` and faster beyond both CIs."""
    return (a.top1 or 0.0) >= (b.top1 or 0.0) and a.ci_high_ms < b.ci_low_ms


def _interp(x: float, xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Linear interpolation, undefined (None) outside [xs[0], xs[-1]]; xs ascending."""
    if not xs or x < xs[0] or x > xs[-1]:
        return None
    return float(np.interp(x, xs, ys))


def _outcome(win: bool, loss: bool, defined: bool) -> str:
    if win and loss:
        return CONFLICT
    if win:
        return WIN
    if loss:
        return LOSS
    return OVERLAP if defined else OUTSIDE


def _lat(p: Point) -> str:
    """Median with its CI; a fourth digit when three would show the CI as a single value."""
    digits = 4 if fmt.num(p.ci_low_ms) == fmt.num(p.ci_high_ms) else 3
    lo, hi = fmt.num(p.ci_low_ms, digits), fmt.num(p.ci_high_ms, digits)
    return f"{fmt.num(p.latency_ms, digits)} ms (CI {lo} to {hi} ms)"


def _span(lo: str, hi: str) -> str:
    """``lo to hi``, one value when both read the same, ``–`` when undefined."""
    if lo == hi:
        return lo
    return f"{lo} to {hi}"


def _detail(span: str, beaten_by: list[str], beats: list[str], them: str) -> str:
    parts = [] if span == "–" else [span]
    if beaten_by:
        parts.append(f"{them} dominated by {', '.join(beaten_by)}")
    if beats:
        parts.append(f"dominates {', '.join(beats)}")
    return "; ".join(parts) or "–"


def _names(points: Iterable[Point]) -> str:
    return ", ".join(p.model for p in points) or "none"


def _usable(points: Sequence[Point]) -> tuple[list[Point], list[Point]]:
    """Points with top-1 and a valid latency CI, and those left out for lacking a CI."""
    with_acc = [p for p in points if finite(p.top1) and math.isfinite(p.latency_ms)]
    return [p for p in with_acc if p.has_ci], [p for p in with_acc if not p.has_ci]


def _no_ci_note(dropped: list[Point]) -> str:
    return f" Left out for lack of a latency CI: {_names(dropped)}." if dropped else ""


def c_ghost_cpu(points: Sequence[Point], group: str) -> Verdict:
    """Claim 1 in one CPU/ARM group; see ``RULE_C_GHOST``."""
    key = "c-ghost-cpu"
    pts, dropped = _usable(points)
    ghosts = sorted((p for p in pts if p.family == "c-ghost"), key=lambda p: p.latency_ms)
    bases = [p for p in pts if p.family in CPU_BASELINES]
    if not ghosts:
        why = "No GhostNet (family c-ghost) with a top-1 and a latency CI in this group."
        return Verdict(key, group, INCONCLUSIVE, why + _no_ci_note(dropped))
    if not bases:
        why = "No lightweight baseline (families mobilenet, shufflenet) with a top-1 and a latency CI."
        return Verdict(key, group, INCONCLUSIVE, why + _no_ci_note(dropped))
    by_hi = sorted(ghosts, key=lambda g: g.ci_high_ms)
    by_lo = sorted(ghosts, key=lambda g: g.ci_low_ms)
    rows, outcomes = [], []
    for b in sorted(bases, key=lambda p: p.latency_ms):
        pess = _interp(b.ci_low_ms, [g.ci_high_ms for g in by_hi], [g.top1 for g in by_hi])
        opt = _interp(b.ci_high_ms, [g.ci_low_ms for g in by_lo], [g.top1 for g in by_lo])
        by = [g.model for g in ghosts if _dominates_beyond_ci(g, b)]
        beats = [g.model for g in ghosts if _dominates_beyond_ci(b, g)]
        win = (pess is not None and pess > b.top1) or bool(by)
        loss = (opt is not None and opt < b.top1) or bool(beats)
        outcome = _outcome(win, loss, pess is not None or opt is not None)
        outcomes.append((b, outcome))
        span = "–" if pess is None and opt is None else _span(fmt.pct(pess), fmt.pct(opt))
        rows.append((b.model, _lat(b), fmt.pct(b.top1), _detail(span, by, beats, "baseline"), outcome))
    front = pareto_front(pts)
    on_front = [g for g in ghosts if g in front]
    dominated = {g.model: [q for q in pts if q is not g and _dominates_beyond_ci(q, g)] for g in ghosts}
    losses = [b.model for b, o in outcomes if o == LOSS]
    wins = [b.model for b, o in outcomes if o == WIN]
    unsure = [f"{b.model} ({o})" for b, o in outcomes if o in (OVERLAP, CONFLICT)]
    front_text = f"Pareto front (median latency vs top-1): {_names(front)}."
    if losses or all(dominated.values()):
        parts = []
        if losses:
            parts.append(f"GhostNet loses at equal latency to {', '.join(losses)} beyond the CIs.")
        if all(dominated.values()):
            parts.append(
                "Every GhostNet variant is dominated beyond CIs: "
                + "; ".join(f"{g} by {_names(qs)}" for g, qs in dominated.items())
                + "."
            )
        status, why = REFUTED, " ".join(parts)
    elif on_front and wins and not unsure:
        status = CONFIRMED
        why = f"{_names(on_front)} on the Pareto front; GhostNet beats {', '.join(wins)} at equal latency."
    else:
        status = INCONCLUSIVE
        reasons = []
        if not on_front:
            reasons.append("no GhostNet variant on the Pareto front, but none dominated beyond CIs")
        if unsure:
            reasons.append(f"CIs overlap for {', '.join(unsure)}")
        if not wins and not unsure:
            reasons.append("no baseline within GhostNet's latency range")
        why = "Not decided: " + "; ".join(reasons) + "."
    return Verdict(
        key,
        group,
        status,
        f"{why} {front_text}{_no_ci_note(dropped)}",
        (
            "baseline",
            "median latency (95% CI)",
            "baseline top-1",
            "GhostNet top-1 at that latency (pessimistic to optimistic)",
            "outcome",
        ),
        tuple(rows),
    )


def g_ghost_gpu(points: Sequence[Point], group: str) -> Verdict:
    """Claim 2 in one GPU group; see ``RULE_G_GHOST``."""
    key = "g-ghost-gpu"
    pts, dropped = _usable(points)
    gg = [p for p in pts if p.family == "g-ghost"]
    others = [p for p in pts if p.family != "g-ghost"]
    if not gg:
        why = "No G-Ghost RegNetX (family g-ghost) with a top-1 and a latency CI in this group."
        return Verdict(key, group, INCONCLUSIVE, why + _no_ci_note(dropped))
    if not any(p.family == "regnet" for p in others):
        why = "No plain RegNetX (family regnet) with a top-1 and a latency CI in this group."
        return Verdict(key, group, INCONCLUSIVE, why + _no_ci_note(dropped))
    # One point per distinct accuracy (the faster, if two variants tie), ascending in top-1.
    curve: dict[float, Point] = {}
    for g in sorted(gg, key=lambda p: p.latency_ms):
        curve.setdefault(float(g.top1), g)
    accs = sorted(curve)
    hi = [curve[a].ci_high_ms for a in accs]
    lo = [curve[a].ci_low_ms for a in accs]
    rows, outcomes = [], []
    for c in sorted(others, key=lambda p: (p.family != "regnet", p.top1)):
        pess = _interp(c.top1, accs, hi)
        opt = _interp(c.top1, accs, lo)
        by = [g.model for g in gg if _dominates_beyond_ci(g, c)]
        beats = [g.model for g in gg if _dominates_beyond_ci(c, g)]
        win = (pess is not None and pess < c.ci_low_ms) or bool(by)
        loss = (opt is not None and opt > c.ci_high_ms) or bool(beats)
        outcome = _outcome(win, loss, pess is not None)
        outcomes.append((c, outcome))
        span = "–" if pess is None else _span(fmt.ms(opt), fmt.ms(pess))
        rows.append((c.model, c.family, fmt.pct(c.top1), _lat(c), _detail(span, by, beats, "model"), outcome))
    losses = [c.model for c, o in outcomes if o == LOSS]
    regnet_wins = [c.model for c, o in outcomes if o == WIN and c.family == "regnet"]
    wins = [c.model for c, o in outcomes if o == WIN]
    unsure = [f"{c.model} ({o})" for c, o in outcomes if o in (OVERLAP, CONFLICT)]
    if losses:
        status, why = REFUTED, f"G-Ghost is slower at equal accuracy than {', '.join(losses)} beyond the CIs."
    elif regnet_wins and not unsure:
        status, why = CONFIRMED, f"G-Ghost is faster at equal accuracy than {', '.join(wins)} beyond the CIs."
    else:
        reasons = []
        if unsure:
            reasons.append(f"CIs overlap for {', '.join(unsure)}")
        if not regnet_wins:
            reasons.append("no win against a plain RegNetX")
        status, why = INCONCLUSIVE, "Not decided: " + "; ".join(reasons) + "."
    return Verdict(
        key,
        group,
        status,
        why + _no_ci_note(dropped),
        (
            "model",
            "family",
            "top-1",
            "median latency (95% CI)",
            "G-Ghost latency at that top-1 (optimistic to pessimistic)",
            "outcome",
        ),
        tuple(rows),
    )


def activations_gpu(
    points: Sequence[Point],
    group: str,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Verdict:
    """Claim 3 in one GPU group; see ``RULE_ACTIVATIONS``."""
    key = "activations-gpu"
    pts = [p for p in points if finite(p.activations) and finite(p.macs) and math.isfinite(p.latency_ms)]
    if len(pts) < MIN_CORR_MODELS:
        why = f"{len(pts)} models with activations, MACs and latency; at least {MIN_CORR_MODELS} needed."
        return Verdict(key, group, INCONCLUSIVE, why)
    acts = np.array([p.activations for p in pts], dtype=float)
    macs = np.array([p.macs for p in pts], dtype=float)
    lat = np.array([p.latency_ms for p in pts], dtype=float)
    rho_a = float(spearman_rows(acts, lat))
    rho_m = float(spearman_rows(macs, lat))
    idx = np.random.default_rng(seed).integers(0, len(pts), size=(resamples, len(pts)))
    diff = spearman_rows(acts[idx], lat[idx]) - spearman_rows(macs[idx], lat[idx])
    diff = diff[np.isfinite(diff)]
    header = ("quantity", "value")
    rows = [
        ("models", str(len(pts))),
        ("Spearman ρ(activations, latency)", fmt.corr(rho_a)),
        ("Spearman ρ(MACs, latency)", fmt.corr(rho_m)),
        ("d = difference", fmt.corr(rho_a - rho_m, 3)),
        ("Pearson r(log activations, log latency)", fmt.corr(loglog_fit(acts, lat)[2])),
        ("Pearson r(log MACs, log latency)", fmt.corr(loglog_fit(macs, lat)[2])),
    ]
    if len(diff) < resamples / 2:
        why = f"Only {len(diff)} of {resamples} bootstrap resamples had a defined correlation."
        return Verdict(key, group, INCONCLUSIVE, why, header, tuple(rows))
    lo, hi = (float(v) for v in np.percentile(diff, [2.5, 97.5]))
    rows.append(
        (
            f"95% bootstrap interval of d ({len(diff)} resamples, seed {seed})",
            f"[{fmt.corr(lo, 3)}, {fmt.corr(hi, 3)}]",
        )
    )
    numbers = (
        f"ρ(activations) {fmt.corr(rho_a)} vs ρ(MACs) {fmt.corr(rho_m)}, "
        f"95% interval of d [{fmt.corr(lo, 3)}, {fmt.corr(hi, 3)}]"
    )
    if lo > 0:
        status, why = CONFIRMED, f"Activations rank GPU latency better than MACs: {numbers}."
    elif hi < 0:
        status, why = REFUTED, f"MACs rank GPU latency better than activations: {numbers}."
    else:
        status, why = INCONCLUSIVE, f"The interval of d contains 0: {numbers}."
    return Verdict(key, group, status, why, header, tuple(rows))


CHECKS = {"c-ghost-cpu": c_ghost_cpu, "g-ghost-gpu": g_ghost_gpu, "activations-gpu": activations_gpu}


def points_from_cells(cells: pd.DataFrame) -> list[Point]:
    """Successful classification cells of one group as points (top-1 only where valid for the precision)."""
    ok = cells[
        (cells["status"] == "ok") & ~cells["family"].isin(NOT_CLASSIFIERS) & cells["median_ms"].notna()
    ]

    def opt(v: object) -> float | None:
        return float(v) if pd.notna(v) else None

    return [
        Point(
            model=r.model,
            family=r.family,
            latency_ms=float(r.median_ms),
            ci_low_ms=float(r.ci_low_ms),
            ci_high_ms=float(r.ci_high_ms),
            top1=opt(r.top1) if r.accuracy_valid else None,
            macs=opt(r.macs),
            activations=opt(r.activations),
        )
        for r in ok.itertuples()
    ]


def evaluate(cells: pd.DataFrame) -> list[Verdict]:
    """Every claim in every group it applies to (``cells`` as built by ``reports.load``); a group whose
    cells all failed has nothing to judge and is left to the failed-cells table."""
    out: list[Verdict] = []
    for claim in CLAIMS:
        applicable = cells[cells["device"].isin(claim.devices) & (cells["status"] == "ok")]
        for group in dict.fromkeys(applicable["group"]):
            points = points_from_cells(applicable[applicable["group"] == group])
            out.append(CHECKS[claim.key](points, group))
    return out


def overall(verdicts: Sequence[Verdict]) -> list[Verdict]:
    """One verdict per claim across groups; see ``RULE_SUMMARY``."""
    out = []
    for claim in CLAIMS:
        mine = [v for v in verdicts if v.claim == claim.key]
        counts = {s: sum(v.status == s for v in mine) for s in (CONFIRMED, REFUTED, INCONCLUSIVE)}
        if not mine:
            where = "/".join(claim.devices)
            status, why = INCONCLUSIVE, f"No {where} group in these runs: the claim cannot be checked."
        else:
            if counts[CONFIRMED] and not counts[REFUTED]:
                status = CONFIRMED
            elif counts[REFUTED] and not counts[CONFIRMED]:
                status = REFUTED
            else:
                status = INCONCLUSIVE
            why = (
                f"{counts[CONFIRMED]} confirmed, {counts[REFUTED]} refuted, "
                f"{counts[INCONCLUSIVE]} inconclusive of {len(mine)} groups."
            )
        out.append(Verdict(claim.key, "all groups", status, why))
    return out
