"""The GPU profile as planned and ordered: which cells a GPU run measures (its per-backend subsets),
its window settings, and the group-by-group order that keeps finished groups when a lease ends.
All of it is decided before a GPU is touched, so it is tested here, on a CPU."""

from __future__ import annotations

from collections import Counter

import pytest
from windowdata import QUICK

from ghostbench.bench.measure import MeasureOptions, measure
from ghostbench.bench.plan import COMPILE_MODELS, GPU_MODELS, get_profile, make_plan
from ghostbench.commands.bench import window_settings
from ghostbench.core.cell import Cell
from ghostbench.core.errors import GhostbenchError


def _all_cells(plan) -> list:
    """Planned and skipped alike: without a GPU every CUDA cell is skipped, with the reason."""
    return [*plan.cells, *(c for c, _ in plan.skipped)]


def test_the_gpu_profile_plans_its_subsets_in_order():
    cells = _all_cells(make_plan(get_profile("gpu")))
    groups = Counter((c.backend, c.precision) for c in cells)
    n = len(GPU_MODELS)
    assert groups == {
        ("torch", "fp32"): n,
        ("torch", "fp16"): n,
        ("torch_cudagraph", "fp16"): n,
        ("onnxruntime", "fp32"): n,
        ("onnxruntime", "fp16"): n,
        ("tensorrt", "fp32"): n,
        ("tensorrt", "fp16"): n,
        ("torch_compile", "fp16"): len(COMPILE_MODELS),
    }
    assert {c.model for c in cells if c.backend == "torch_compile"} == set(COMPILE_MODELS)
    assert cells[-1].backend == "torch_compile"  # the slowest group runs last
    assert {"g_ghost_regnetx_160", "regnetx_160"} <= {c.model for c in cells}


def test_a_users_choice_replaces_the_subset_it_names():
    profile = get_profile("gpu")
    fp32 = _all_cells(make_plan(profile, precisions=("fp32",), backends=("torch_cudagraph",)))
    assert {c.precision for c in fp32} == {"fp32"}
    compiled = _all_cells(make_plan(profile, models=("ghostnet_050",), backends=("torch_compile",)))
    assert [(c.model, c.precision) for c in compiled] == [("ghostnet_050", "fp16")]


def test_cells_are_skipped_for_want_of_a_gpu_not_dropped():
    plan = make_plan(get_profile("gpu"), backends=("torch",), models=("ghostnet_050",))
    if plan.cells:
        pytest.skip("a CUDA GPU is visible: these cells can run here")
    assert all("no CUDA GPU" in why for _, why in plan.skipped)


def test_window_settings_profile_then_quick_then_flags():
    gpu, cpu = get_profile("gpu"), get_profile("cpu")
    settings = window_settings(gpu, quick=False, time_cap=None, min_time=None)
    assert (settings.warmup_min_s, settings.min_time_s, settings.time_cap_s) == (0.2, 0.5, 2.0)
    default = window_settings(cpu, quick=False, time_cap=None, min_time=None)
    assert (default.warmup_min_s, default.min_time_s, default.time_cap_s) == (0.5, 1.0, 4.0)
    quick = window_settings(gpu, quick=True, time_cap=None, min_time=None)
    assert (quick.min_time_s, quick.time_cap_s, quick.warmup_min_s) == (0.3, 1.0, 0.2)
    flags = window_settings(gpu, quick=False, time_cap=0.4, min_time=3.0)
    assert (flags.min_time_s, flags.time_cap_s) == (0.4, 0.4)  # the minimum never above the cap


def _order(interleave: str) -> tuple[list[tuple[str, int]], list[str]]:
    """Windows and finished rows, in the order measure ran and wrote them, for two groups."""
    cells = [Cell(m, "null", precision=p) for p in ("fp32", "fp16") for m in ("ghostnet_050", "ghostnet_100")]
    windows: list[tuple[str, int]] = []
    events: list[str] = []

    measure(
        cells,
        run_id="run",
        options=MeasureOptions(rounds=2, harness=QUICK, timeout_s=60, interleave=interleave),
        on_window_start=lambda cell, r: (windows.append((cell.key, r)), events.append(f"start {cell.key}")),
        on_cell_done=lambda row: events.append(f"done {row['cell']}"),
    )
    return windows, events


def test_group_order_finishes_each_backend_and_precision_before_the_next():
    windows, events = _order("group")
    assert all("/fp32/" in k for k, _ in windows[:4]) and all("/fp16/" in k for k, _ in windows[4:])
    assert [r for _, r in windows] == [0, 0, 1, 1, 0, 0, 1, 1]
    # Both fp32 cells are written before any fp16 window starts: a run cut short there keeps them.
    first_fp16 = next(i for i, e in enumerate(events) if e.startswith("start") and "/fp16/" in e)
    assert sum(e.startswith("done") for e in events[:first_fp16]) == 2
    run_windows, _ = _order("run")
    assert [r for _, r in run_windows] == [0, 0, 0, 0, 1, 1, 1, 1]  # every cell in every round


def test_an_unknown_order_is_refused():
    with pytest.raises(GhostbenchError, match="interleave"):
        MeasureOptions(interleave="random")
