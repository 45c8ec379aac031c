"""`ghostbench report` on synthetic results directories: a self-contained page, escaped strings,
the cross-run chart, measured accuracy, the tables, the Markdown summary and user errors."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
import reportdata as rd

from ghostbench.commands import cli
from ghostbench.reports import build_report, default_output, fmt
from ghostbench.reports.html import env_tree, short_labels
from ghostbench.reports.load import load

HOSTILE = "<script>alert(1)</script>"
MATHTEXT = "odd$name_with$$dollars\\frac"


class Page(HTMLParser):
    """Collects what the tests look at: tags with their attributes, text, and the text of <script>s."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for t, attrs in self.tags if t == tag]

    @property
    def body_text(self) -> str:
        return " ".join(self.text)


def png_size(uri: str) -> tuple[int, int]:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    png = base64.b64decode(uri[len(prefix) :], validate=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two CPU runs that differ in thread count; the first has measured accuracy, an int8 cell,
    a failed and a skipped cell, a detection model and a hostile model name."""
    root = tmp_path_factory.mktemp("runs")
    models = [
        m
        for m in rd.default_models()
        if m.family in ("c-ghost", "mobilenet", "shufflenet", "regnet", "g-ghost")
    ]
    ghost100 = next(m for m in models if m.name == "ghostnet_100")
    hostile = rd.renamed(models[-1], HOSTILE)
    odd = rd.renamed(models[-2], MATHTEXT)
    det = rd.model("ssdlite_test", "detection", top1=None, macs=600_000_000, acts=9_000_000)
    cells = [
        *rd.full_cells([*models, hostile, odd, det], ["onnxruntime"]),
        rd.Cell(ghost100, "onnxruntime", precision="int8"),
        rd.Cell(models[0], "onnxruntime", precision="int8"),
        rd.Cell(ghost100, "torch", error="Traceback ...\nRuntimeError: <b>worker crashed</b>"),
    ]
    measured = {"model": "ghostnet_100", "format": "onnx", "n": 50000, "data": "imagenet-val"}
    accuracy = [
        measured | {"precision": "fp32", "top1": 73.71, "top5": 91.2},
        measured | {"precision": "int8", "top1": 72.95, "top5": 90.8},
    ]
    no_trt = "tensorrt is not installed: pip install 'ghostbench[tensorrt]'"
    first = rd.write_run(
        root,
        "20261123T121500Z-a",
        cells,
        rd.cpu_latency,
        threads=2,
        samples_per_cell=150,
        accuracy=accuracy,
        skipped=[{"cell": "resnet50/tensorrt/cpu/fp32/t2", "reason": no_trt}],
    )
    second = rd.write_run(
        root,
        "20261123T131500Z-a",
        rd.full_cells(models, ["onnxruntime"]),
        lambda m: rd.cpu_latency(m) * (0.55 if m.family == "regnet" else 0.7),
        threads=1,
        samples_per_cell=150,
        seed=1,
    )
    return first, second


@pytest.fixture(scope="module")
def report(two_runs: tuple[Path, Path], tmp_path_factory) -> tuple[Page, str, str]:
    out = tmp_path_factory.mktemp("out")
    path = build_report(list(two_runs), out / "r.html", markdown_path=out / "r.md")
    html = path.read_text(encoding="utf-8")
    return Page(html), html, (out / "r.md").read_text(encoding="utf-8")


def test_report_is_self_contained(report: tuple[Page, str, str]) -> None:
    page, _, _ = report
    images = page.all("img")
    assert len(images) >= 6
    for img in images:
        width, height = png_size(img["src"])
        assert width > 100 and height > 100
        assert img["alt"]
    assert all(a["href"].startswith("#") for a in page.all("a"))
    assert [link["href"] for link in page.all("link")] == ["data:,"]
    csp = next(m["content"] for m in page.all("meta") if m.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "img-src data:" in csp
    assert "unsafe-inline" not in csp


def test_hostile_names_are_text(report: tuple[Page, str, str]) -> None:
    page, html, md = report
    assert len(page.all("script")) == 1
    assert "alert(1)" not in "".join(page.scripts)
    assert HOSTILE in page.body_text  # shown, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert MATHTEXT in page.body_text  # matplotlib did not choke on its dollar signs
    assert "<b>" not in html and "&lt;b&gt;worker crashed&lt;/b&gt;" in html
    assert "<script>" not in md and "&lt;script&gt;" in md


def test_two_runs_with_different_threads_give_the_rank_chart(report: tuple[Page, str, str]) -> None:
    page, _, _ = report
    alts = [img["alt"] for img in page.all("img")]
    assert any(alt.startswith("latency rank") for alt in alts)
    # Each run's groups are kept apart: one accuracy panel per (run, backend, threads).
    accuracy = [alt for alt in alts if alt.startswith("top-1 accuracy")]
    assert len(accuracy) == 2
    assert any("2 threads" in a for a in accuracy) and any("1 thread" in a for a in accuracy)


def test_measured_accuracy_replaces_published_and_is_labelled(report: tuple[Page, str, str]) -> None:
    page, _, _ = report
    text = page.body_text
    assert "measured: 20261123T121500Z-a accuracy.csv (onnx, fp32, 50000 images, data imagenet-val)" in text
    assert "measured: 20261123T121500Z-a accuracy.csv (onnx, int8, 50000 images, data imagenet-val)" in text
    assert "73.71 %" in text and "72.95 %" in text
    # The other int8 cell has no measured top-1: left out of the accuracy plot, and said so.
    assert "1 reduced-precision cell(s) without a measured top-1 are not plotted" in text


def test_tables_show_skipped_failed_environment_and_parity(report: tuple[Page, str, str]) -> None:
    page, html, _ = report
    text = page.body_text
    assert "tensorrt is not installed: pip install 'ghostbench[tensorrt]'" in text
    assert "RuntimeError: <b>worker crashed</b>" in text
    assert "unavailable: no sensors" in text and "unavailable: no cpufreq in this container" in text
    assert "Artifact parity" in text and "0.99999" in text
    assert 'id="detection"' in html and "not part of the timed graph" in text
    assert "ssdlite_test" in text


def test_verdicts_carry_rules_and_numbers(report: tuple[Page, str, str]) -> None:
    page, _, md = report
    text = page.body_text
    for rule in ("Per CPU/ARM group", "Per GPU group (device cuda), over models", "bootstrap resamples"):
        assert rule in text
    # Only CPU runs: the GPU claims cannot be checked, and say why.
    assert text.count("No cuda group in these runs: the claim cannot be checked.") >= 2
    assert "| claim | verdict | why |" in md
    assert "GhostNet" in md and "ghostnet\\_100" in md


def test_cli_writes_the_default_path_and_prints_it(
    two_runs: tuple[Path, Path], tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    first = two_runs[1]
    assert cli.main(["report", str(first), "--models", "ghostnet_*"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(Path("reports") / f"{first.name}.html")
    page = Page((tmp_path / printed).read_text(encoding="utf-8"))
    assert not any(img["alt"].startswith("latency rank") for img in page.all("img"))
    assert "Needs at least two groups from two runs" in page.body_text
    dist = [img for img in page.all("img") if img["alt"].startswith("latency distribution")]
    assert len(dist) == 1


def test_default_output_names() -> None:
    assert default_output(["a"]) == Path("reports/a.html")
    assert default_output(["a", "b"]) == Path("reports/a+b.html")
    assert default_output(["a", "b", "c", "d"]) == Path("reports/a+3-more.html")


@pytest.mark.parametrize("problem", ["schema", "missing", "twice", "unmeasured"])
def test_bad_input_is_one_error_line(
    two_runs: tuple[Path, Path], tmp_path: Path, problem: str, capsys
) -> None:
    run = two_runs[1]
    if problem == "schema":
        bad = tmp_path / run.name
        bad.mkdir()
        for f in run.iterdir():
            (bad / f.name).write_bytes(f.read_bytes())
        info = json.loads((bad / "run.json").read_text())
        (bad / "run.json").write_text(json.dumps(info | {"schema_version": 99}))
        args = [str(bad)]
    elif problem == "missing":
        args = [str(tmp_path / "nope")]
    elif problem == "unmeasured":  # run.json only: interrupted before its first cell
        bare = tmp_path / run.name
        bare.mkdir()
        (bare / "run.json").write_text((run / "run.json").read_text())
        args = [str(bare)]
    else:
        args = [str(run), str(run)]
    assert cli.main(["report", *args, "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ERROR: ")
    assert not (tmp_path / "x.html").exists()


def test_env_tree_renders_any_shape() -> None:
    env = {
        "cpu": {"model": "X", "governor": {"unavailable": "no cpufreq"}, "freq": [1.5, 2.0]},
        "gpus": [{"name": "A", "temp_c": None}, {"unavailable": "gone"}],
        "flag": True,
        "deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}},
    }
    tree = env_tree(env)
    kinds = {c["key"]: c for c in tree["children"]}
    cpu = {c["key"]: c for c in kinds["cpu"]["children"]}
    assert cpu["governor"] == {"key": "governor", "kind": "unavailable", "text": "no cpufreq", "children": []}
    assert cpu["freq"]["text"] == "1.5, 2"
    assert kinds["gpus"]["children"][0]["children"][1]["text"] == "null"
    assert kinds["gpus"]["children"][1]["kind"] == "unavailable"
    assert kinds["flag"]["text"] == "yes"
    node = kinds["deep"]
    while node["kind"] == "map":
        node = node["children"][0]
    assert node["kind"] == "scalar" and "'i': 1" in node["text"]


def test_short_labels_name_only_what_differs(two_runs: tuple[Path, Path]) -> None:
    cells = load(list(two_runs)).cells
    groups = list(dict.fromkeys(cells[cells["backend"] == "onnxruntime"]["group"]))
    labels = short_labels(cells, groups)
    # Runs differ in threads, the first also has int8 cells: those two fields, nothing more.
    assert sorted(labels.values()) == [
        "cpu · onnxruntime · 1 thread · fp32",
        "cpu · onnxruntime · 2 threads · fp32",
        "cpu · onnxruntime · 2 threads · int8",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (fmt.ms(1.2345), "1.23 ms"),
        (fmt.ms(123.45), "123 ms"),
        (fmt.ms(0.01234), "0.0123 ms"),
        (fmt.ms(float("nan")), "–"),
        (fmt.ms_range(1.0, 2.5), "[1.00, 2.50] ms"),
        (fmt.pct(73.91), "73.9 %"),
        (fmt.ratio_pct(0.0123), "1.2 %"),
        (fmt.count(4_200_000), "4.20 M"),
        (fmt.count(1_800_000_000, digits=2), "1.8 G"),
        (fmt.integer(3000.0), "3000"),
        (fmt.corr(0.0004, 3), "+0.000"),
    ],
)
def test_numbers_carry_units(text: str, expected: str) -> None:
    assert text == expected
