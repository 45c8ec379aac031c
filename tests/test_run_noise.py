"""The machine's run noise (``ghostbench/bench/run_noise.py``): its estimate from a series of
synthetic runs with known run-to-run shifts (``tests/comparedata.py``), its file, and how ``compare``
uses it."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from comparedata import SynthCell, write_run

from ghostbench.bench import compare, run_noise
from ghostbench.commands.cli import main
from ghostbench.core.errors import GhostbenchError

CELLS = (
    SynthCell("ghostnet_050", median_ms=2.0),
    SynthCell("ghostnet_100", median_ms=6.0),
    SynthCell("shufflenetv2_100", median_ms=4.0),
)


def _series(tmp_path: Path, factors: list[float], cells=CELLS, windows=(1.0, 1.0, 1.0)) -> list[Path]:
    """One run per factor: every window of every cell of run r is ``factors[r]`` times slower."""
    return [
        write_run(
            tmp_path / f"run-{r}",
            [replace(c, shifts=tuple(f * w for w in windows)) for c in cells],
            seed=10 + r,
        )
        for r, f in enumerate(factors)
    ]


def test_the_estimate_is_the_spread_of_run_medians_the_windows_do_not_explain(tmp_path: Path) -> None:
    factors = [1.0, 1.06, 0.95, 1.03, 0.98]
    noise = run_noise.estimate(_series(tmp_path, factors))
    expected = float(np.std(np.log(factors), ddof=1))
    assert noise.sigma == pytest.approx(expected, rel=0.1)
    assert (noise.runs, noise.cells) == (5, 3)
    assert set(noise.per_cell) == {c.cell.key for c in CELLS}
    assert noise.device_names == (CELLS[0].device_name,)
    assert f"{100 * noise.sigma:.1f} % (5 runs of 3 cells on {CELLS[0].device_name})" == noise.describe()


def test_windows_that_move_alike_in_every_run_are_no_run_noise(tmp_path: Path) -> None:
    """Window medians 8 % apart inside each run, but the runs agree: nothing for the run noise."""
    noise = run_noise.estimate(_series(tmp_path, [1.0, 1.0, 1.0, 1.0], windows=(1.0, 1.08, 0.96)))
    assert noise.sigma < 0.005


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("two runs", "needs 3 or more runs"),
        ("other hardware", "different hardware"),
        ("one window", "two or more windows"),
        ("busy", "otherwise idle machine"),
    ],
)
def test_a_series_that_cannot_show_the_run_noise_is_refused(tmp_path: Path, case: str, message: str) -> None:
    if case == "two runs":
        runs = _series(tmp_path, [1.0, 1.02])
    elif case == "other hardware":
        runs = _series(tmp_path, [1.0, 1.02, 0.99])
        write_run(runs[2], [replace(c, device_name="Other CPU") for c in CELLS])
    elif case == "busy":  # another job kept the 2 CPUs busy during one run: that run says nothing
        runs = _series(tmp_path, [1.0, 1.02, 0.99])
        write_run(runs[1], CELLS, load_avg=3.5)
    else:
        runs = _series(tmp_path, [1.0, 1.02, 0.99], windows=(1.0,))
    with pytest.raises(GhostbenchError, match=message):
        run_noise.estimate(runs)


def test_the_file_round_trips_and_a_bad_one_is_a_clear_error(tmp_path: Path) -> None:
    noise = run_noise.estimate(_series(tmp_path, [1.0, 1.04, 0.97]))
    path = run_noise.write(tmp_path / "baseline" / run_noise.NOISE_FILE, noise)
    assert run_noise.read(tmp_path / "baseline") == noise
    assert run_noise.read(tmp_path) is None
    path.write_text(json.dumps({**noise.to_dict(), "sigma": 3.0}))
    with pytest.raises(GhostbenchError, match=r"not a run-noise file.*make calibrate"):
        run_noise.read(tmp_path / "baseline")
    path.write_text("{not json")
    with pytest.raises(GhostbenchError, match="not a run-noise file"):
        run_noise.load(path)


def _pair_with_noise_file(
    tmp_path: Path, sigma: float, device_name: str = CELLS[0].device_name
) -> tuple[Path, Path]:
    """A baseline holding a ``noise.json`` of ``sigma`` and a new run whose first cell is 12 % slower."""
    base = write_run(tmp_path / "base", CELLS, seed=1)
    new = write_run(
        tmp_path / "new", [replace(CELLS[0], median_ms=CELLS[0].median_ms * 1.12), *CELLS[1:]], seed=2
    )
    noise = run_noise.RunNoise(sigma, 11, 6, (device_name,), ("a", "b"), {})
    run_noise.write(base / run_noise.NOISE_FILE, noise)
    return base, new


def test_compare_adds_the_baselines_run_noise_to_each_cells_noise(tmp_path: Path) -> None:
    base, new = _pair_with_noise_file(tmp_path, 0.04)
    slowed = CELLS[0].cell.key
    result = compare.compare_runs(base, new)
    cell = next(c for c in result.cells if c.cell == slowed)
    assert result.run_noise == 0.04
    assert result.run_noise_source.startswith("noise.json in the baseline: 4.0 % (11 runs of 6 cells")
    assert cell.noise == pytest.approx(compare.Z * math.sqrt(cell.window_sigma**2 * (2 / 3) + 2 * 0.04**2))
    assert cell.ratio_low > 1.05  # beyond the threshold, not beyond what this machine moves a run
    assert cell.status == compare.UNCHANGED and result.exit_code == 0
    # Given on the command line, it wins over the file: with none, the 12 % is a regression.
    again = compare.compare_runs(base, new, run_noise=0.0)
    assert next(c for c in again.cells if c.cell == slowed).status == compare.REGRESSION
    assert again.run_noise_source == "given (--run-noise)"


def test_compare_cli_reads_and_overrides_the_run_noise(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base, new = _pair_with_noise_file(tmp_path, 0.04)
    assert main(["compare", str(base), str(new), "--markdown", str(tmp_path / "c.md")]) == 0
    assert "run noise: noise.json in the baseline: 4.0 %" in capsys.readouterr().out
    assert "Run noise: noise.json in the baseline" in (tmp_path / "c.md").read_text()
    assert main(["compare", str(base), str(new), "--run-noise", "0"]) == 1
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(base), str(new), "--run-noise", "4"])
    assert exc.value.code == 2
    assert "ERROR: argument --run-noise: a fraction in [0, 1)" in capsys.readouterr().err


def test_a_noise_file_of_other_hardware_is_ignored_with_a_note(tmp_path: Path) -> None:
    base, new = _pair_with_noise_file(tmp_path, 0.04, device_name="Other CPU")
    result = compare.compare_runs(base, new)
    assert result.run_noise == 0.0
    assert any("measured on Other CPU" in note and "ignored" in note for note in result.notes)
    assert result.exit_code == 1
