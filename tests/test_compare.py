"""``compare`` on small synthetic results folders (``tests/comparedata.py``): the decision rule,
unmatched and failed cells, unfair comparisons, refused inputs, the CLI and its files."""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from comparedata import SlowedRunner, SynthCell, env, write_run

from ghostbench.bench import compare
from ghostbench.commands.cli import main
from ghostbench.core import stats
from ghostbench.core.errors import GhostbenchError
from ghostbench.reports import compare_text

CELLS = (
    SynthCell("ghostnet_050", median_ms=2.0),
    SynthCell("ghostnet_100", median_ms=6.0),
    SynthCell("shufflenetv2_100", median_ms=4.0),
)


def _by_cell(result: compare.Comparison) -> dict[str, compare.CellComparison]:
    return {c.cell: c for c in result.cells}


def _runs(tmp_path: Path, new_cells, base_cells=CELLS, **new_kwargs) -> tuple[Path, Path]:
    base = write_run(tmp_path / "base", base_cells, seed=1)
    new = write_run(tmp_path / "new", new_cells, seed=2, **new_kwargs)
    return base, new


def _slower(cell: SynthCell, factor: float) -> SynthCell:
    return replace(cell, median_ms=cell.median_ms * factor)


# ---- statistics ---------------------------------------------------------------------------------------


def test_median_draws_follow_the_brute_force_bootstrap() -> None:
    rng = np.random.default_rng(3)
    x = rng.lognormal(0, 0.3, 41)
    exact = compare.median_draws(x, 20_000, np.random.default_rng(4))
    resamples = rng.choice(x, size=(20_000, len(x)), replace=True)
    brute = np.sort(resamples, axis=1)[:, (len(x) + 1) // 2 - 1]
    for q in (0.025, 0.25, 0.5, 0.75, 0.975):
        assert np.quantile(exact, q) == pytest.approx(np.quantile(brute, q), rel=0.02)


def test_ratio_interval_covers_one_for_equal_distributions_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(5)
    covered = 0
    trials = 200
    for _ in range(trials):
        a, b = rng.lognormal(1, 0.2, 300), rng.lognormal(1, 0.2, 300)
        _, low, high = compare.ratio_interval(a, b, rng=rng, resamples=2000)
        covered += low <= 1 <= high
    assert 0.90 <= covered / trials <= 0.99


def test_decide_needs_the_whole_interval_beyond_the_margin() -> None:
    assert compare.decide(1.06, 1.2, 0.05) == compare.REGRESSION
    assert compare.decide(1.04, 1.2, 0.05) == compare.UNCHANGED
    assert compare.decide(0.8, 0.94, 0.05) == compare.IMPROVEMENT
    assert compare.decide(0.8, 0.96, 0.05) == compare.UNCHANGED


def test_window_spread_is_the_range_of_window_medians_over_the_median() -> None:
    windows = [np.full(10, 100.0), np.full(10, 110.0), np.full(10, 120.0)]
    assert stats.window_spread(windows) == pytest.approx(20 / 110)
    assert stats.window_spread([np.array([90.0, 100.0, 110.0])]) == 0.0  # one window: no spread


# ---- the decision on runs --------------------------------------------------------------------------


def test_same_machine_same_code_is_all_unchanged(tmp_path: Path) -> None:
    base, new = _runs(tmp_path, CELLS)
    result = compare.compare_runs(base, new)
    assert [c.status for c in result.cells] == [compare.UNCHANGED] * 3
    assert result.exit_code == 0
    for c in result.cells:
        assert c.ratio_low <= c.ratio <= c.ratio_high
        assert c.margin == pytest.approx(0.05)
        assert c.method == "samples"


def test_a_slower_and_a_faster_cell(tmp_path: Path) -> None:
    base, new = _runs(tmp_path, [_slower(CELLS[0], 1.2), _slower(CELLS[1], 0.8), CELLS[2]])
    result = compare.compare_runs(base, new)
    cells = _by_cell(result)
    slow, fast, same = (cells[c.cell.key] for c in CELLS)
    assert (slow.status, fast.status, same.status) == (
        compare.REGRESSION,
        compare.IMPROVEMENT,
        compare.UNCHANGED,
    )
    assert slow.ratio == pytest.approx(1.2, rel=0.02)
    assert slow.ratio_low > 1.05
    assert fast.ratio_high < 0.95
    assert slow.p_value < 0.001
    assert result.exit_code == 1
    assert [c.status for c in result.cells][:2] == [compare.REGRESSION, compare.IMPROVEMENT]


def test_threshold_sets_the_smallest_change_that_counts(tmp_path: Path) -> None:
    base, new = _runs(tmp_path, [_slower(CELLS[0], 1.08), *CELLS[1:]])
    key = CELLS[0].cell.key
    assert _by_cell(compare.compare_runs(base, new, 0.05))[key].status == compare.REGRESSION
    assert _by_cell(compare.compare_runs(base, new, 0.10))[key].status == compare.UNCHANGED


def test_a_cell_whose_windows_disagree_needs_a_larger_change(tmp_path: Path) -> None:
    """The same +15 % is a regression for a steady cell, within noise for one whose baseline
    windows spread 30 %: the machine alone moves that cell's run median that much."""
    noisy = replace(CELLS[1], shifts=(1.0, 1.3, 1.0))
    base, new = _runs(
        tmp_path,
        [_slower(CELLS[0], 1.15), _slower(CELLS[1], 1.15), CELLS[2]],
        base_cells=[CELLS[0], noisy, CELLS[2]],
    )
    cells = _by_cell(compare.compare_runs(base, new))
    steady, jumpy = cells[CELLS[0].cell.key], cells[CELLS[1].cell.key]
    assert steady.status == compare.REGRESSION
    assert steady.margin == 0.05
    assert jumpy.status == compare.UNCHANGED
    assert jumpy.window_sigma == pytest.approx(0.3 / compare.d2(3), rel=0.1)
    assert jumpy.noise == pytest.approx(compare.Z * jumpy.window_sigma * math.sqrt(1 / 3 + 1 / 3))
    assert jumpy.margin == jumpy.noise
    assert jumpy.ratio_low > 1 + 0.05  # beyond the threshold, but not beyond this cell's noise


def test_a_steady_cell_is_judged_by_the_machines_typical_window_noise(tmp_path: Path) -> None:
    """Two windows that happen to agree say little: a cell's noise is at least the median window
    noise of all cells of the two runs."""
    jittery = [replace(c, shifts=(1.0, 1.08, 0.96)) for c in CELLS[:2]]
    base, new = _runs(tmp_path, [*jittery, _slower(CELLS[2], 1.12)], base_cells=[*jittery, CELLS[2]])
    cell = _by_cell(compare.compare_runs(base, new))[CELLS[2].cell.key]
    assert cell.window_sigma == pytest.approx(0.12 / compare.d2(3), rel=0.1)
    assert cell.status == compare.UNCHANGED
    assert cell.ratio_low > 1.05


def test_d2_is_the_expected_range_of_normal_draws() -> None:
    assert compare.d2(2) == pytest.approx(2 / math.sqrt(math.pi))
    assert compare.d2(3) == pytest.approx(1.693, abs=1e-3)


def test_noise_of_the_new_run_counts_too(tmp_path: Path) -> None:
    """One window of the new run hit by a neighbour moves its pooled median; the spread it leaves
    keeps that from being called a regression."""
    burst = replace(CELLS[0], shifts=(1.0, 1.0, 1.6))
    base, new = _runs(tmp_path, [burst, *CELLS[1:]])
    cell = _by_cell(compare.compare_runs(base, new))[CELLS[0].cell.key]
    assert cell.ratio_low > 1.0
    assert cell.status == compare.UNCHANGED


def test_a_single_window_run_is_listed_not_judged(tmp_path: Path) -> None:
    """One window shows nothing of how far the machine moves a run: shown, not judged."""
    one = replace(CELLS[0], shifts=(1.0,))
    base, new = _runs(tmp_path, [_slower(one, 1.3), *CELLS[1:]], base_cells=[one, *CELLS[1:]])
    result = compare.compare_runs(base, new)
    cell = _by_cell(result)[one.cell.key]
    assert (cell.status, cell.reason) == (compare.NOT_COMPARABLE, compare.SINGLE_WINDOW)
    assert cell.ratio == pytest.approx(1.3, rel=0.03)
    assert cell.margin is None
    assert result.counts[compare.UNCHANGED] == 2
    assert result.exit_code == 0


def test_without_samples_the_rows_intervals_are_used(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", CELLS, seed=1, with_samples=False)
    new = write_run(tmp_path / "new", [_slower(CELLS[0], 1.3), *CELLS[1:]], seed=2, with_samples=False)
    cells = _by_cell(compare.compare_runs(base, new))
    slow = cells[CELLS[0].cell.key]
    assert slow.method == "summaries"
    assert slow.status == compare.REGRESSION
    assert slow.p_value is None
    assert [cells[c.cell.key].status for c in CELLS[1:]] == [compare.UNCHANGED] * 2


def test_results_are_reproducible(tmp_path: Path) -> None:
    base, new = _runs(tmp_path, [_slower(CELLS[0], 1.07), *CELLS[1:]])
    assert compare.compare_runs(base, new).to_dict() == compare.compare_runs(base, new).to_dict()


# ---- cells that are not compared ------------------------------------------------------------------


def test_cells_in_one_run_only_are_listed_with_the_skip_reason(tmp_path: Path) -> None:
    extra = SynthCell("resnet50", median_ms=30.0)
    tflite = SynthCell("ghostnet_050", backend="tflite", runtime="ai-edge-litert")
    base, new = _runs(
        tmp_path,
        [*CELLS[:2], extra],
        base_cells=[*CELLS, tflite],
        skipped=[(tflite.cell.key, "ai_edge_litert is not installed")],
    )
    result = compare.compare_runs(base, new)
    cells = _by_cell(result)
    assert cells[CELLS[2].cell.key].status == compare.ONLY_BASELINE
    assert cells[CELLS[2].cell.key].reason == "not measured in the new run"
    assert cells[tflite.cell.key].reason == "skipped in the new run: ai_edge_litert is not installed"
    assert cells[extra.cell.key].status == compare.ONLY_NEW
    assert result.exit_code == 0


def test_a_cell_that_fails_now_is_a_regression(tmp_path: Path) -> None:
    broken = replace(CELLS[0], error="worker died from SIGSEGV\nFatal Python error")
    base, new = _runs(tmp_path, [broken, *CELLS[1:]])
    result = compare.compare_runs(base, new)
    cell = _by_cell(result)[CELLS[0].cell.key]
    assert cell.status == compare.FAILED
    assert cell.reason == "fails in the new run: worker died from SIGSEGV"
    assert result.exit_code == 1


def test_a_cell_that_failed_in_the_baseline_is_not_judged(tmp_path: Path) -> None:
    broken = replace(CELLS[0], error="timed out")
    base, new = _runs(tmp_path, CELLS, base_cells=[broken, *CELLS[1:]])
    result = compare.compare_runs(base, new)
    assert _by_cell(result)[CELLS[0].cell.key].status == compare.BASELINE_FAILED
    assert result.exit_code == 0


def test_a_new_runtime_version_is_not_comparable_however_slow(tmp_path: Path) -> None:
    upgraded = replace(_slower(CELLS[0], 1.5), runtime_version="1.21.0")
    base, new = _runs(tmp_path, [upgraded, *CELLS[1:]], run_env=env(versions={"onnxruntime": "1.21.0"}))
    result = compare.compare_runs(base, new)
    cell = _by_cell(result)[CELLS[0].cell.key]
    assert cell.status == compare.NOT_COMPARABLE
    assert cell.reason == "runtime version differs: 1.20.0 → 1.21.0"
    assert cell.ratio == pytest.approx(1.5, rel=0.03)  # shown, not judged
    assert result.exit_code == 0
    assert compare.EnvDifference("versions.onnxruntime", "1.20.0", "1.21.0") in result.environment


def test_a_throttled_cell_is_not_comparable(tmp_path: Path) -> None:
    hot = replace(_slower(CELLS[0], 1.3), flags=("throttled",))
    base, new = _runs(tmp_path, [hot, *CELLS[1:]])
    cell = _by_cell(compare.compare_runs(base, new))[CELLS[0].cell.key]
    assert (cell.status, cell.reason) == (compare.NOT_COMPARABLE, "throttled in the new run")


def test_nothing_fairly_comparable_is_an_error(tmp_path: Path) -> None:
    upgraded = [replace(c, runtime_version="2.0.0") for c in CELLS]
    base, new = _runs(tmp_path, upgraded)
    with pytest.raises(
        GhostbenchError, match=r"no cell could be compared fairly \(3 cells\): runtime version differs"
    ):
        compare.compare_runs(base, new)


# ---- refused inputs: exit 2, never a false regression ---------------------------------------------


def test_runs_of_different_devices_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gpu = [replace(c, device="cuda", device_name="NVIDIA H100 80GB HBM3") for c in CELLS]
    base, new = _runs(tmp_path, [_slower(c, 3.0) for c in CELLS], base_cells=gpu)
    assert main(["compare", str(base), str(new)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "ERROR: the runs measured different devices: baseline base ran on cuda (NVIDIA H100"
    )
    assert "new run new on cpu (Test CPU 9000" in err
    assert len(err.strip().splitlines()) == 1


def test_runs_of_different_machines_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    other = [replace(_slower(c, 2.0), device_name="Other CPU 1000") for c in CELLS]
    base, new = _runs(tmp_path, other)
    assert main(["compare", str(base), str(new)]) == 2
    err = capsys.readouterr().err
    assert "measured on different hardware: baseline base on Test CPU 9000 @ 3.00GHz" in err
    assert "new run new on Other CPU 1000" in err


def test_runs_without_a_common_cell_are_refused(tmp_path: Path) -> None:
    base, new = _runs(tmp_path, [SynthCell("resnet50")])
    with pytest.raises(GhostbenchError, match="the runs share no cell"):
        compare.compare_runs(base, new)


def test_a_folder_that_is_not_a_run_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base, _ = _runs(tmp_path, CELLS)
    assert main(["compare", str(base), str(tmp_path / "missing")]) == 2
    assert "missing: not a results directory" in capsys.readouterr().err


def test_an_unknown_schema_version_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base, new = _runs(tmp_path, CELLS)
    run = json.loads((new / "run.json").read_text())
    (new / "run.json").write_text(json.dumps({**run, "schema_version": 99}))
    assert main(["compare", str(base), str(new)]) == 2
    assert "schema_version 99" in capsys.readouterr().err


def test_negative_latencies_are_damage_not_a_median_of_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    base, new = _runs(tmp_path, CELLS)
    samples = pd.read_parquet(new / "samples.parquet")
    samples.loc[samples.index[:5], "latency_ns"] = -5
    samples.to_parquet(new / "samples.parquet", index=False)
    assert main(["compare", str(base), str(new)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "samples.parquet: 5 negative latencies (first in cell " in err[0]
    assert err[0].endswith("the file is damaged")


@pytest.mark.parametrize("value", ["1.5", "-0.1", "five"])
def test_a_bad_threshold_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture, value: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["compare", "a", "b", "--threshold", value])
    assert exc.value.code == 2
    assert "ERROR: argument --threshold" in capsys.readouterr().err


# ---- output ---------------------------------------------------------------------------------------


def test_cli_table_json_and_markdown(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base, new = _runs(
        tmp_path,
        [_slower(CELLS[0], 1.2), CELLS[1]],
        run_env=env(versions={"numpy": "2.2.0"}),
        status="interrupted",
    )
    out_json, out_md = tmp_path / "out" / "compare.json", tmp_path / "out" / "compare.md"
    code = main(["compare", str(base), str(new), "--json", str(out_json), "--markdown", str(out_md)])
    assert code == 1
    text = capsys.readouterr().out
    assert "REGRESSION: 1 slower, 1 only in baseline, 1 within noise (of 3 cells); threshold 5.0 %" in text
    assert " ms" in text and "+20." in text
    assert "environment differs: versions.numpy: 2.1.0 → 2.2.0" in text
    assert "note: the new run has status interrupted" in text

    data = json.loads(out_json.read_text())
    assert data["exit_code"] == 1
    assert data["threshold"] == 0.05
    assert data["counts"][compare.REGRESSION] == 1
    first = data["cells"][0]
    assert first["cell"] == CELLS[0].cell.key and first["status"] == compare.REGRESSION
    assert first["baseline_ms"] == pytest.approx(2.0, rel=0.02)
    only = next(c for c in data["cells"] if c["status"] == compare.ONLY_BASELINE)
    assert only["ratio"] is None

    md = out_md.read_text()
    assert md.startswith("## ghostbench compare: **regression**")
    assert "| ghostnet\\_050/onnxruntime/cpu/fp32/t1 | **slower** | 2.00 ms |" in md
    assert "| versions.numpy | 2.1.0 | 2.2.0 |" in md


def test_markdown_escapes_strings_from_results(tmp_path: Path) -> None:
    broken = replace(CELLS[0], error="<script>x</script> | *boom*")
    base, new = _runs(tmp_path, [broken, *CELLS[1:]])
    md = compare_text.to_markdown(compare.compare_runs(base, new))
    assert "<script>" not in md
    assert "&lt;script&gt;x&lt;/script&gt; \\| \\*boom\\*" in md


def test_rich_markup_in_results_is_printed_literally(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    broken = replace(CELLS[0], error="[bold]x[/bold]")
    base, new = _runs(tmp_path, [broken, *CELLS[1:]])
    assert main(["compare", str(base), str(new)]) == 1
    assert "[bold]x[/bold]" in capsys.readouterr().out


def test_a_cell_measured_on_a_busy_machine_is_not_comparable(tmp_path: Path) -> None:
    """More runnable tasks than CPUs around a window (the env probes in run.json): other work
    shared the machine, so a change says nothing about the code."""
    base, new = _runs(tmp_path, [_slower(c, 1.4) for c in CELLS], load_avg=3.5)
    busy = "machine busy in the new run: load average up to 3.50 on 2 CPUs"
    with pytest.raises(GhostbenchError, match=re.escape(busy)):
        compare.compare_runs(base, new)
    # A 2-thread cell on 2 CPUs brings the load to 2 by itself: up to 2.5 is not yet busy.
    quiet = write_run(tmp_path / "quiet", CELLS, seed=3, load_avg=2.5)
    assert compare.compare_runs(base, quiet).counts[compare.UNCHANGED] == 3


# Writing the synthetic rows, stats.drift divides the thirds' medians of 0 ns.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_a_median_of_zero_ns_is_not_comparable(tmp_path: Path) -> None:
    """The null backend on a coarse clock can time 0 ns: no ratio exists."""
    null = SynthCell("ghostnet_050", backend="null", runtime="ghostbench", median_ms=0.0)
    base, new = _runs(tmp_path, [null, *CELLS], base_cells=[null, *CELLS])
    cell = _by_cell(compare.compare_runs(base, new))[null.cell.key]
    assert cell.status == compare.NOT_COMPARABLE
    assert cell.reason == "a median of 0 ns: below the clock's resolution"


def test_a_run_whose_cells_all_fail_is_a_regression_not_other_hardware(tmp_path: Path) -> None:
    broken = [replace(c, error="CUDA error: no device", device_name="") for c in CELLS]
    base, new = _runs(tmp_path, broken)
    result = compare.compare_runs(base, new)
    assert result.counts[compare.FAILED] == 3
    assert result.exit_code == 1


class _FixedRunner:
    """Reports a fixed inference time without timing anything."""

    runtime = "fixed"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def version(self) -> str:
        return "1.0"

    def load(self, cell: object, artifact: object) -> None:
        self.calls.append("load")

    def prepare(self, seed: int) -> None:
        self.calls.append(f"prepare {seed}")

    def run_once(self) -> int:
        return 2_000_000

    def close(self) -> None:
        self.calls.append("close")


def test_slowed_runner_busy_waits_its_fraction_on_top_of_each_inference() -> None:
    """The wrapper the sensitivity test measures through: it delegates everything and adds at
    least ``fraction`` of each inference's own time, measured, to what it reports."""
    inner = _FixedRunner()
    slowed = SlowedRunner(inner, 0.10)
    slowed.load(CELLS[0].cell, None)
    slowed.prepare(7)
    started = time.perf_counter_ns()
    times = [slowed.run_once() for _ in range(20)]
    elapsed = time.perf_counter_ns() - started
    slowed.close()
    assert inner.calls == ["load", "prepare 7", "close"]
    assert (slowed.runtime, slowed.version()) == ("fixed", "1.0")
    assert min(times) >= 2_200_000
    assert elapsed >= 20 * 200_000  # the extra time was really spent


def test_rows_without_a_window_spread_are_not_judged(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", CELLS, seed=1, with_samples=False)
    new = write_run(tmp_path / "new", [_slower(CELLS[0], 1.3), *CELLS[1:]], seed=2, with_samples=False)
    for run in (base, new):
        table = pd.read_parquet(run / "latency.parquet")
        table["window_spread"] = np.nan
        table.to_parquet(run / "latency.parquet", index=False)
    with pytest.raises(GhostbenchError, match="no window spread recorded"):
        compare.compare_runs(base, new)


def test_terminal_escapes_from_results_are_shown_not_obeyed() -> None:
    """Issue 17, 10: an error or CPU name holding ``ESC[2J`` or an OSC-8 link reaches neither the
    terminal (compare's table) nor the Markdown summary as control characters."""
    from ghostbench.reports.fmt import printable
    from ghostbench.reports.markdown import md

    hostile = "boom\x1b[2J\x1b]8;;http://evil\x07link\x1b]8;;\x07\x9b"
    for shown in (printable(hostile), md(hostile)):
        assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in shown)
        assert "x1b[2J" in shown.replace("\\[", "[")
    assert printable("2.0 ms – ±1 %\nnext") == "2.0 ms – ±1 %\nnext"
