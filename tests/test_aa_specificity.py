"""``benchmarks/aa_specificity.py`` (what ``make calibrate`` runs) on synthetic runs of unchanged
code: it judges the A/A pairs, writes the series' run noise, and judges another series with it."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import pytest
from comparedata import SynthCell, write_run

from ghostbench.bench import run_noise

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "aa_specificity.py"
CELLS = (SynthCell("ghostnet_050", median_ms=2.0), SynthCell("mobilenetv3_small_100", median_ms=1.0))
# Whole runs 8 % apart: window noise alone calls that a change, the run noise does not.
FACTORS = (1.0, 1.08, 1.0, 0.97, 1.05)


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("aa_specificity", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _series(root: Path) -> list[str]:
    return [
        str(write_run(root / f"run-{i}", [replace(c, shifts=(f, f, f)) for c in CELLS], seed=i))
        for i, f in enumerate(FACTORS)
    ]


def test_calibrate_then_judge_another_series_with_its_run_noise(script, tmp_path: Path) -> None:
    first, second = _series(tmp_path / "a"), _series(tmp_path / "b")
    noise_file = tmp_path / "baseline" / run_noise.NOISE_FILE

    # On window noise alone the 8 % jumps between runs are flagged; calibrating still succeeds.
    assert (
        script.main(["--existing", *first, "--out", str(tmp_path / "cal"), "--write-noise", str(noise_file)])
        == 0
    )
    calibration = json.loads((tmp_path / "cal" / "summary.json").read_text())
    assert calibration["run_noise"] == 0.0 and calibration["flagged"] > 1
    written = run_noise.load(noise_file)
    assert written.sigma == pytest.approx(calibration["measured_run_noise"]["sigma"])
    assert (written.runs, written.cells) == (len(FACTORS), len(CELLS))

    # The other series, judged with that run noise: nothing flagged, every cell judged.
    out = tmp_path / "judged"
    assert script.main(["--existing", *second, "--out", str(out), "--noise", str(noise_file)]) == 0
    judged = json.loads((out / "summary.json").read_text())
    assert judged["run_noise"] == written.sigma
    assert (judged["flagged"], judged["judged"]) == (0, 2 * (len(FACTORS) - 1))


def test_a_bad_noise_file_is_a_usage_error(script, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / run_noise.NOISE_FILE
    bad.write_text("{}")
    with pytest.raises(SystemExit) as exc:
        script.main(["--existing", *_series(tmp_path), "--out", str(tmp_path / "o"), "--noise", str(bad)])
    assert exc.value.code == 2
    assert "not a run-noise file" in capsys.readouterr().err
