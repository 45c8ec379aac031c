"""The report in a real browser: headless Chromium over the DevTools protocol (``--remote-debugging-pipe``,
standard library only). Checks no console errors, no network requests beyond the file and its data
URIs, every figure decoded with a non-zero size, a full-page screenshot, and that a model named
``<script>alert(1)</script>`` stays text. Skips when Chromium is not installed."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import reportdata as rd
from browser import CHROMIUM, evaluate, open_report, problems

from ghostbench.reports import build_report

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)
XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    models = rd.default_models()
    evil = rd.renamed(models[4], XSS)
    cells = rd.full_cells([*models, evil], ["onnxruntime", "tflite"])
    cells.append(rd.Cell(models[0], "torch", error="RuntimeError: worker crashed\n<b>not bold</b>"))
    run = rd.write_run(
        root,
        "20261123T121500Z-browser",
        cells,
        rd.cpu_latency,
        samples_per_cell=400,
        skipped=[{"cell": "resnet50/tensorrt/cpu/fp32/t2", "reason": "tensorrt is not installed"}],
    )
    return build_report([run], root / "report.html")


def test_report_renders_cleanly_in_chromium(report: Path, tmp_path: Path) -> None:
    dt, session = open_report(report, tmp_path / "profile")
    try:
        images = evaluate(
            dt,
            session,
            "Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, "
            "w: i.naturalWidth, h: i.naturalHeight}))",
        )
        shot = dt.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
        height = evaluate(dt, session, "document.documentElement.scrollHeight")
        found = problems(dt, report.resolve().as_uri())
    finally:
        dt.close()
    assert found == []
    figures = [img for img in images if img["alt"]]
    assert len(figures) >= 4, images
    bad = [img for img in figures if not (img["complete"] and img["w"] > 0 and img["h"] > 0)]
    assert bad == []
    png = base64.b64decode(shot["data"])
    (tmp_path / "report.png").write_bytes(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, shot_height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width == 1280
    assert shot_height >= min(int(height), 16384) > 900


def test_hostile_model_name_stays_text_in_the_dom(report: Path, tmp_path: Path) -> None:
    dt, session = open_report(report, tmp_path / "profile")
    try:
        scripts = evaluate(dt, session, "document.scripts.length")
        text_hits = evaluate(
            dt,
            session,
            "Array.from(document.querySelectorAll('td'))"
            f".filter(td => td.textContent === {json.dumps(XSS)}).length",
        )
        bold = evaluate(dt, session, "document.querySelectorAll('pre b').length")
        found = problems(dt, report.resolve().as_uri())
    finally:
        dt.close()
    assert scripts == 1  # the report's own sort script only
    assert text_hits >= 2  # the model's rows in the cells table (one per backend) at least
    assert bold == 0  # markup in an error message is shown, not applied
    assert found == []
