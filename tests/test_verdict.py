"""The verdict rules on synthetic points: clear wins confirm, clear losses refute, overlapping CIs
and missing data stay inconclusive."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from ghostbench.reports import curves
from ghostbench.reports import verdict as v
from ghostbench.reports.curves import Point


def pt(model: str, family: str, ms: float, top1: float | None = None, ci: float = 0.01, **kw) -> Point:
    """A point whose 95% CI is +/- ``ci`` (relative) around ``ms``."""
    return Point(model, family, ms, ms * (1 - ci), ms * (1 + ci), top1, **kw)


GHOSTS = [
    pt("g050", "c-ghost", 1.0, 66.0),
    pt("g100", "c-ghost", 2.0, 74.0),
    pt("g130", "c-ghost", 3.0, 76.0),
]


# --- claim 1: C-Ghost on CPU ---------------------------------------------------------------------


def test_c_ghost_clear_win_is_confirmed() -> None:
    bases = [pt("mnv3", "mobilenet", 2.5, 72.0), pt("shv2", "shufflenet", 1.8, 69.0)]
    out = v.c_ghost_cpu([*GHOSTS, *bases], "g")
    assert out.status == v.CONFIRMED, out.why
    assert [row[-1] for row in out.rows] == [v.WIN, v.WIN]


def test_c_ghost_clear_loss_is_refuted() -> None:
    # At 1.5 ms GhostNet interpolates to 70 %, the baseline has 75 %.
    out = v.c_ghost_cpu(
        [*GHOSTS, pt("mnv3", "mobilenet", 1.5, 75.0), pt("shv2", "shufflenet", 1.8, 69.0)], "g"
    )
    assert out.status == v.REFUTED, out.why
    assert "mnv3" in out.why


def test_c_ghost_overlapping_cis_are_inconclusive_and_narrow_cis_decide() -> None:
    # GhostNet interpolates to 74.0 % at 2.0 ms; the baseline has 73.5 % there.
    wide = [pt(g.model, g.family, g.latency_ms, g.top1, ci=0.25) for g in GHOSTS]
    out = v.c_ghost_cpu([*wide, pt("mnv3", "mobilenet", 2.0, 73.5, ci=0.25)], "g")
    assert out.status == v.INCONCLUSIVE, out.why
    assert out.rows[0][-1] == v.OVERLAP
    narrow = v.c_ghost_cpu([*GHOSTS, pt("mnv3", "mobilenet", 2.0, 73.5, ci=0.005)], "g")
    assert narrow.status == v.CONFIRMED, narrow.why


def test_c_ghost_dominated_everywhere_is_refuted() -> None:
    # Another family is both faster (beyond CIs) and more accurate than every GhostNet.
    out = v.c_ghost_cpu(
        [*GHOSTS, pt("eff", "efficientnet", 0.8, 77.0), pt("shv2", "shufflenet", 5.0, 60.0)], "g"
    )
    assert out.status == v.REFUTED
    assert "dominated" in out.why


def test_c_ghost_baseline_outside_range_neither_wins_nor_loses() -> None:
    # Slower than every GhostNet and more accurate than all of them: not comparable.
    outside = pt("mnv2", "mobilenet", 9.0, 80.0)
    out = v.c_ghost_cpu([*GHOSTS, outside, pt("shv2", "shufflenet", 1.8, 69.0)], "g")
    assert dict((r[0], r[-1]) for r in out.rows) == {"mnv2": v.OUTSIDE, "shv2": v.WIN}
    assert out.status == v.CONFIRMED


@pytest.mark.parametrize(
    ("points", "reason"),
    [
        ([pt("mnv3", "mobilenet", 2.0, 73.0)], "No GhostNet"),
        (GHOSTS, "No lightweight baseline"),
        ([*GHOSTS, pt("mnv3", "mobilenet", 2.0, None)], "No lightweight baseline"),
    ],
)
def test_c_ghost_missing_data_is_inconclusive(points: list[Point], reason: str) -> None:
    out = v.c_ghost_cpu(points, "g")
    assert out.status == v.INCONCLUSIVE
    assert reason in out.why


def test_points_without_a_ci_are_left_out_and_named() -> None:
    no_ci = Point("mnv3", "mobilenet", 1.5, math.nan, math.nan, 75.0)
    out = v.c_ghost_cpu([*GHOSTS, no_ci], "g")
    assert out.status == v.INCONCLUSIVE
    assert "lack of a latency CI: mnv3" in out.why


def test_pareto_front() -> None:
    pts = [
        *GHOSTS,
        pt("slow_bad", "x", 2.5, 70.0),
        pt("tie_slower", "x", 2.0, 73.0),
        pt("best", "x", 4.0, 80.0),
    ]
    assert [p.model for p in curves.pareto_front(pts)] == ["g050", "g100", "g130", "best"]


# --- claim 2: G-Ghost on GPU ---------------------------------------------------------------------

GG = [pt("gg032", "g-ghost", 2.0, 77.8), pt("gg040", "g-ghost", 2.2, 78.6), pt("gg080", "g-ghost", 2.6, 79.0)]


def test_g_ghost_clear_win_is_confirmed() -> None:
    others = [
        pt("rx032", "regnet", 3.2, 78.3),
        pt("rx040", "regnet", 3.4, 78.6),
        pt("r50", "resnet", 3.3, 78.0),
    ]
    out = v.g_ghost_gpu([*GG, *others], "g")
    assert out.status == v.CONFIRMED, out.why
    assert {r[0]: r[-1] for r in out.rows} == {"rx032": v.WIN, "rx040": v.WIN, "r50": v.WIN}


def test_g_ghost_clear_loss_is_refuted() -> None:
    out = v.g_ghost_gpu([*GG, pt("rx032", "regnet", 1.5, 78.3)], "g")
    assert out.status == v.REFUTED
    assert "rx032" in out.why


def test_g_ghost_loss_to_another_family_refutes() -> None:
    out = v.g_ghost_gpu([*GG, pt("rx032", "regnet", 3.2, 78.3), pt("eff", "efficientnet", 1.0, 78.2)], "g")
    assert out.status == v.REFUTED
    assert "eff" in out.why


def test_g_ghost_overlapping_cis_are_inconclusive() -> None:
    wide = [pt(g.model, g.family, g.latency_ms, g.top1, ci=0.3) for g in GG]
    out = v.g_ghost_gpu([*wide, pt("rx032", "regnet", 2.3, 78.3, ci=0.3)], "g")
    assert out.status == v.INCONCLUSIVE
    assert out.rows[0][-1] == v.OVERLAP


def test_g_ghost_without_plain_regnet_is_inconclusive() -> None:
    out = v.g_ghost_gpu([*GG, pt("r50", "resnet", 3.3, 78.0)], "g")
    assert out.status == v.INCONCLUSIVE
    assert "plain RegNetX" in out.why


def test_g_ghost_regnet_only_outside_range_is_inconclusive() -> None:
    # The only RegNetX is more accurate than every G-Ghost and slower: no comparison at equal accuracy.
    out = v.g_ghost_gpu([*GG, pt("rx320", "regnet", 9.0, 80.5)], "g")
    assert out.status == v.INCONCLUSIVE
    assert out.rows[0][-1] == v.OUTSIDE


# --- claim 3: activations vs MACs ----------------------------------------------------------------


def _corr_points(n: int, macs_order: np.ndarray, acts_order: np.ndarray) -> list[Point]:
    lat = np.linspace(1.0, 5.0, n)
    return [
        pt(
            f"m{i}",
            "x",
            float(lat[i]),
            macs=float(macs_order[i] + 1) * 1e8,
            activations=float(acts_order[i] + 1) * 1e6,
        )
        for i in range(n)
    ]


def test_activations_rank_latency_better_is_confirmed() -> None:
    rng = np.random.default_rng(1)
    pts = _corr_points(12, rng.permutation(12), np.arange(12))
    out = v.activations_gpu(pts, "g")
    assert out.status == v.CONFIRMED, out.why


def test_macs_rank_latency_better_is_refuted() -> None:
    rng = np.random.default_rng(1)
    pts = _corr_points(12, np.arange(12), rng.permutation(12))
    assert v.activations_gpu(pts, "g").status == v.REFUTED


def test_equal_rankings_are_inconclusive() -> None:
    pts = _corr_points(12, np.arange(12), np.arange(12))
    out = v.activations_gpu(pts, "g")
    assert out.status == v.INCONCLUSIVE
    assert "contains 0" in out.why


def test_too_few_models_for_correlations_is_inconclusive() -> None:
    n = v.MIN_CORR_MODELS - 1
    out = v.activations_gpu(_corr_points(n, np.arange(n), np.arange(n)), "g")
    assert out.status == v.INCONCLUSIVE
    assert f"at least {v.MIN_CORR_MODELS}" in out.why


def test_bootstrap_is_seeded() -> None:
    rng = np.random.default_rng(7)
    pts = _corr_points(8, rng.permutation(8), rng.permutation(8))
    assert v.activations_gpu(pts, "g") == v.activations_gpu(pts, "g")


def test_spearman_rows_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, size=(4, 9)).astype(float)
    y = rng.normal(size=(4, 9))
    expected = [spearmanr(a, b).statistic for a, b in zip(x, y, strict=True)]
    np.testing.assert_allclose(curves.spearman_rows(x, y), expected)


# --- groups and summary --------------------------------------------------------------------------


def _cells(device: str, group: str, points: list[Point]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "group": group,
                "device": device,
                "status": "ok",
                "model": p.model,
                "family": p.family,
                "median_ms": p.latency_ms,
                "ci_low_ms": p.ci_low_ms,
                "ci_high_ms": p.ci_high_ms,
                "top1": p.top1 if p.top1 is not None else math.nan,
                "accuracy_valid": p.top1 is not None,
                "macs": p.macs if p.macs is not None else math.nan,
                "activations": p.activations if p.activations is not None else math.nan,
            }
            for p in points
        ]
    )


def test_evaluate_applies_each_claim_to_its_devices_only() -> None:
    cells = pd.concat(
        [
            _cells("cpu", "cpu-a", [*GHOSTS, pt("mnv3", "mobilenet", 2.5, 72.0)]),
            _cells("pi", "pi-a", [*GHOSTS, pt("mnv3", "mobilenet", 1.5, 75.0)]),
        ]
    )
    verdicts = v.evaluate(cells)
    assert {(x.claim, x.group, x.status) for x in verdicts} == {
        ("c-ghost-cpu", "cpu-a", v.CONFIRMED),
        ("c-ghost-cpu", "pi-a", v.REFUTED),
    }
    summary = {s.claim: s for s in v.overall(verdicts)}
    assert summary["c-ghost-cpu"].status == v.INCONCLUSIVE  # the groups disagree
    assert summary["g-ghost-gpu"].status == v.INCONCLUSIVE
    assert "No cuda group" in summary["g-ghost-gpu"].why


def test_failed_cells_and_invalid_accuracy_do_not_count() -> None:
    cells = _cells("cpu", "c", [*GHOSTS, pt("mnv3", "mobilenet", 1.5, 75.0)])
    cells.loc[cells["model"] == "mnv3", "accuracy_valid"] = False  # e.g. int8 without a measured top-1
    assert v.evaluate(cells)[0].status == v.INCONCLUSIVE
    cells.loc[cells["model"] == "mnv3", ["accuracy_valid", "status"]] = [True, "error"]
    assert v.evaluate(cells)[0].status == v.INCONCLUSIVE


def test_docs_state_the_rules_the_code_applies() -> None:
    doc = " ".join((Path(__file__).parents[1] / "docs" / "report.md").read_text().split())
    for rule in [*(c.rule for c in v.CLAIMS), v.RULE_SUMMARY]:
        assert " ".join(rule.split()) in doc


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([v.CONFIRMED, v.INCONCLUSIVE], v.CONFIRMED),
        ([v.REFUTED, v.INCONCLUSIVE], v.REFUTED),
        ([v.CONFIRMED, v.REFUTED], v.INCONCLUSIVE),
        ([v.INCONCLUSIVE], v.INCONCLUSIVE),
    ],
)
def test_summary_rule(statuses: list[str], expected: str) -> None:
    verdicts = [v.Verdict("c-ghost-cpu", f"g{i}", s, "") for i, s in enumerate(statuses)]
    assert {s.claim: s.status for s in v.overall(verdicts)}["c-ghost-cpu"] == expected


# --- your own models (family "user" by default, never a claim family: models/user.py) ----------


def test_a_user_model_is_one_of_every_other_model_on_gpu() -> None:
    mine = pt("my_net", "user", 1.0, 78.2)  # faster than G-Ghost at its accuracy, beyond the CIs
    out = v.g_ghost_gpu([*GG, pt("rx032", "regnet", 3.2, 78.3), mine], "g")
    assert out.status == v.REFUTED
    assert "my_net" in out.why


def test_a_user_model_can_dominate_ghostnet_but_is_no_baseline() -> None:
    mine = pt("my_net", "user", 0.8, 77.0)
    out = v.c_ghost_cpu([*GHOSTS, mine, pt("shv2", "shufflenet", 5.0, 60.0)], "g")
    assert out.status == v.REFUTED and "dominated" in out.why
    assert [row[0] for row in out.rows] == ["shv2"]  # the baselines' table: not the user's model
