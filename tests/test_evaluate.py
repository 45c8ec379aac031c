"""`ghostbench evaluate` end to end on real ONNX Runtime and LiteRT: a tiny network trained here in
seconds on generated coloured shapes, its checkpoint loaded, exported (fp32 and int8) and scored
through the runners that time it; then the report shows the measured points of a run."""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import reportdata as rd
import torch
from PIL import Image
from torch import nn

from ghostbench.commands import cli
from ghostbench.evaluate import data, infer
from ghostbench.exporters import lookup
from ghostbench.models import registry, weights
from ghostbench.models.registry import ModelSpec
from ghostbench.reports import build_report, fmt
from ghostbench.reports.load import load

COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 80, 230), "yellow": (230, 210, 40)}
SHAPES = ("square", "ring")
# Folder names; their sorted order (blue before red ...) is the class index order the net learns.
CLASSES = sorted(f"{shape}_{colour}" for shape in SHAPES for colour in COLOURS)
SIZE = 32  # network input; resize 36, crop 32 (crop_pct 0.875)
PER_CLASS_EVAL, PER_CLASS_TRAIN, EPOCHS = 10, 48, 20
NAME = "shapes_tiny"
RUN_ID = "20261201T000000Z-eval"
EVALUATED = (("torch", "fp32"), ("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"), ("tflite", "int8"))


def shapes_net(num_classes: int = len(CLASSES)) -> nn.Module:
    """The registered test model (module level: its source is part of the export cache key)."""

    def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *block(3, 16, 1),
        *block(16, 32, 2),
        *block(32, 32, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, num_classes),
    )


def draw(name: str, rng: np.random.Generator) -> Image.Image:
    """A ring or square of the class colour (jittered) on dark noise, of random size and position."""
    shape, colour = name.split("_")
    width, height = (int(v) for v in rng.integers(36, 60, size=2))
    pixels = rng.integers(0, 90, size=(height, width, 3)).astype(np.int64)
    radius = rng.uniform(7, 12)
    cx, cy = width / 2 + rng.uniform(-4, 4), height / 2 + rng.uniform(-4, 4)
    yy, xx = np.mgrid[:height, :width]
    if shape == "ring":
        distance = np.hypot(xx - cx, yy - cy)
        mask = (distance <= radius) & (distance >= 0.55 * radius)
    else:
        mask = (np.abs(xx - cx) <= 0.85 * radius) & (np.abs(yy - cy) <= 0.85 * radius)
    pixels[mask] = np.array(COLOURS[colour]) + rng.integers(-25, 26, size=3)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def spec() -> Iterator[ModelSpec]:
    """The tiny model, registered for this module only (the registry has no public unregister)."""
    spec = ModelSpec(NAME, "test-shapes", shapes_net, input_size=SIZE, num_classes=len(CLASSES))
    yield registry.register(spec)
    registry._REGISTRY.pop(NAME)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """The labelled evaluation folder: one sub-folder per class, PNG and JPEG files."""
    root = tmp_path_factory.mktemp("shapes") / "val"
    rng = np.random.default_rng(1)
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for i in range(PER_CLASS_EVAL):
            draw(name, rng).save(root / name / f"{i:03d}.{'jpg' if i % 3 == 0 else 'png'}", quality=95)
    return root


@pytest.fixture(scope="module")
def checkpoint(spec: ModelSpec, tmp_path_factory) -> Path:
    """Train on other images of the same classes (labels in sorted folder order) and save the
    weights the way DataParallel training scripts do: ``{"state_dict": {"module.<key>": ...}}``."""
    rng = np.random.default_rng(2)
    recipe = data.preprocessing_for(spec)
    labels = [i for i in range(len(CLASSES)) for _ in range(PER_CLASS_TRAIN)]
    x = torch.from_numpy(np.concatenate([recipe.apply(draw(CLASSES[i], rng), SIZE) for i in labels]))
    y = torch.tensor(labels)
    torch.manual_seed(0)
    model = shapes_net()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    order = torch.Generator().manual_seed(0)
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(y), generator=order).split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    path = tmp_path_factory.mktemp("weights") / "shapes_tiny.pth"
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": EPOCHS}, path
    )
    return path


def evaluate(*args: str) -> tuple[int, str, str]:
    """``ghostbench evaluate`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["evaluate", *args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def run(spec: ModelSpec, folder: Path, checkpoint: Path, tmp_path_factory) -> dict:
    """A results run with (synthetic) latency rows for the tiny model and for ghostnet_100 (published
    top-1), then every (format, precision) of EVALUATED measured into its accuracy.csv."""
    root = tmp_path_factory.mktemp("results")
    cache = tmp_path_factory.mktemp("cache")
    tiny = rd.model(NAME, "test-shapes", top1=None, macs=2_000_000, acts=60_000)
    ghost = next(m for m in rd.default_models() if m.name == "ghostnet_100")
    cells = [rd.Cell(ghost, "onnxruntime")]
    cells += [rd.Cell(tiny, b, precision=p) for b in ("onnxruntime", "tflite") for p in ("fp32", "int8")]
    run_dir = rd.write_run(root, RUN_ID, cells, rd.cpu_latency, samples_per_cell=60)
    printed = {}
    for fmt_, precision in EVALUATED:
        code, stdout, stderr = evaluate(
            *(NAME, "--weights", str(checkpoint), "--data", str(folder), "--out", str(run_dir)),
            *("--format", fmt_, "--precision", precision, "--threads", "1", "--cache-dir", str(cache)),
        )
        assert code == 0, stderr
        printed[fmt_, precision] = stdout
    return {"dir": run_dir, "cache": cache, "printed": printed}


def _row(table: pd.DataFrame, fmt_: str, precision: str) -> pd.Series:
    rows = table[(table["format"] == fmt_) & (table["precision"] == precision)]
    assert len(rows) == 1, table
    return rows.iloc[0]


def test_torch_figures_match_an_independent_count(
    run: dict, spec: ModelSpec, folder: Path, checkpoint
) -> None:
    """top-1/top-5 recomputed here: the trained net, loaded without ghostbench, on every image."""
    model = shapes_net()
    state = torch.load(checkpoint, weights_only=True)["state_dict"]
    model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    model.eval()
    recipe = data.preprocessing_for(spec)
    top1 = top5 = 0
    images = sorted(folder.rglob("*.*"))
    for path in images:
        label = CLASSES.index(path.parent.name)
        with torch.no_grad():
            logits = model(torch.from_numpy(data.load_image(path, recipe, SIZE)))[0].numpy()
        ranked = np.argsort(-logits)
        top1 += int(ranked[0] == label)
        top5 += int(label in ranked[:5])
    row = _row(pd.read_csv(run["dir"] / "accuracy.csv"), "torch", "fp32")
    assert row["n"] == len(images) == len(CLASSES) * PER_CLASS_EVAL
    assert row["top1"] == pytest.approx(round(100 * top1 / len(images), 4))
    assert row["top5"] == pytest.approx(round(100 * top5 / len(images), 4))
    assert row["top1"] > 70 and row["top5"] >= row["top1"]  # it learnt (chance: 12.5%)
    assert row["labels"] == "class folders" and row["classes"] == len(CLASSES)
    assert row["weights_sha256"] == weights.file_sha256(checkpoint)
    assert "resize shorter side 36 (bilinear), center crop 32" in row["preprocessing"]


def test_artifacts_score_like_the_network_and_int8_is_measured(
    run: dict, spec: ModelSpec, checkpoint
) -> None:
    table = pd.read_csv(run["dir"] / "accuracy.csv")
    assert sorted(zip(table["format"], table["precision"], strict=True)) == sorted(EVALUATED)
    n = len(CLASSES) * PER_CLASS_EVAL
    reference = _row(table, "torch", "fp32")
    for fmt_ in ("onnx", "tflite"):
        fp32, int8 = _row(table, fmt_, "fp32"), _row(table, fmt_, "int8")
        # fp32 artifacts reorder float sums only: at most one image may change its top-1 class.
        assert abs(fp32["top1"] - reference["top1"]) <= 100 / n + 1e-9
        # int8 is measured, not assumed: close to fp32 (a small net), and clearly better than chance.
        assert abs(int8["top1"] - fp32["top1"]) <= 20 and int8["top1"] > 3 * 100 / len(CLASSES)
        assert fp32["backend"] == infer.FORMAT_BACKENDS[fmt_] and fp32["runtime_version"]
        # The scored file is the cached export of these weights, not of the seeded random ones.
        trained = weights.with_weights(spec, checkpoint)
        for row in (fp32, int8):
            artifact = lookup(trained, fmt_, row["precision"], cache_dir=run["cache"])
            assert artifact is not None and row["artifact_sha256"] == artifact.sha256
            assert lookup(spec, fmt_, row["precision"], cache_dir=run["cache"]) is None
        print(f"{fmt_}: fp32 top-1 {fp32['top1']:.2f}%, int8 top-1 {int8['top1']:.2f}% on {n} images")
    line = run["printed"]["tflite", "int8"].splitlines()
    assert line[0].startswith(f"{NAME} tflite int8: top-1 ") and line[-1] == str(run["dir"] / "accuracy.csv")


def test_runner_logits_equal_eager_on_real_images(
    run: dict, spec: ModelSpec, folder: Path, checkpoint
) -> None:
    """The runners' set_input path: an image through ONNX Runtime and LiteRT gives eager's logits."""
    trained = weights.with_weights(spec, checkpoint)
    model = trained.build()
    recipe = data.preprocessing_for(spec)
    images = [data.load_image(p, recipe, SIZE) for p in sorted(folder.rglob("*.*"))[::9]]
    for fmt_ in ("onnx", "tflite"):
        cell = infer.evaluation_cell(NAME, fmt_, "fp32")
        classifier = infer.open_classifier(trained, cell, cache_dir=run["cache"])
        try:
            for x in images:
                with torch.no_grad():
                    expected = model(torch.from_numpy(x))[0].numpy()
                np.testing.assert_allclose(classifier(x), expected, rtol=1e-4, atol=1e-4)
        finally:
            classifier.close()


def test_rerun_replaces_its_row_and_other_layouts_agree(
    run: dict, folder: Path, checkpoint, tmp_path
) -> None:
    base = ("--weights", str(checkpoint), "--threads", "1", "--cache-dir", str(run["cache"]))
    before = pd.read_csv(run["dir"] / "accuracy.csv")
    code, _, stderr = evaluate(NAME, *base, "--data", str(folder), "--out", str(run["dir"]), "-f", "onnx")
    assert code == 0, stderr
    after = pd.read_csv(run["dir"] / "accuracy.csv")
    assert len(after) == len(before)
    assert _row(after, "onnx", "fp32")["top1"] == _row(before, "onnx", "fp32")["top1"]
    # The ILSVRC2012 validation layout: the same images in one folder, labels in val.txt.
    flat = tmp_path / "flat"
    flat.mkdir()
    lines = []
    for i, path in enumerate(sorted(folder.rglob("*.*")), 1):
        name = f"ILSVRC2012_val_{i:08d}{path.suffix}"
        shutil.copy(path, flat / name)
        lines.append(f"{name} {CLASSES.index(path.parent.name)}\n")
    (tmp_path / "val.txt").write_text("".join(reversed(lines)))
    code, stdout, stderr = evaluate(NAME, *base, "--data", str(flat), "--labels", str(tmp_path / "val.txt"))
    assert code == 0 and "not stored: give --out" in stderr
    torch_row = _row(after, "torch", "fp32")
    assert f"top-1 {torch_row['top1']:.2f}%  top-5 {torch_row['top5']:.2f}%" in stdout
    assert "label file val.txt" in stdout
    code, stdout, _ = evaluate(NAME, *base, "--data", str(folder), "--limit", "16")
    assert code == 0 and f"on 16 of {len(lines)} images" in stdout


def test_bad_requests_fail_in_one_line_before_any_export(
    folder: Path, checkpoint: Path, spec, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    base = (NAME, "--weights", str(checkpoint), "--data", str(folder), "--cache-dir", str(cache))
    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    cases = {
        ("-f", "torch", "-p", "int8"): "does not run 'int8'",
        ("-f", "onnx", "-p", "int8_dynamic"): "onnx does not support precision 'int8_dynamic'",
        ("-f", "coreml"): "unknown format 'coreml'",
        ("-f", "onnx", "--device", "tpu"): "does not run on 'tpu'",
        ("-f", "onnx", "--out", str(taken)): f"cannot write results to {taken}",
    }
    for extra, message in cases.items():
        code, stdout, stderr = evaluate(*base, *extra)
        assert code == 2 and stdout == "" and stderr.count("\n") == 1 and message in stderr, stderr
    assert not cache.exists()  # nothing was exported
    detector = next(name for name in registry.names() if registry.get(name).task == "detection")
    code, _, stderr = evaluate(detector, "--weights", str(checkpoint), "--data", str(folder))
    assert code == 2 and "evaluate measures classifiers" in stderr


def test_report_plots_measured_points_beside_published_ones(run: dict, tmp_path: Path) -> None:
    table = pd.read_csv(run["dir"] / "accuracy.csv")
    cells = load([run["dir"]]).cells
    published = cells[cells["model"] == "ghostnet_100"].iloc[0]
    assert published["top1_kind"] == "published" and published["top1_source"]
    for backend, fmt_ in (("onnxruntime", "onnx"), ("tflite", "tflite")):
        for precision in ("fp32", "int8"):
            mine = (cells["model"] == NAME) & (cells["backend"] == backend)
            cell = cells[mine & (cells["precision"] == precision)]
            measured = _row(table, fmt_, precision)
            assert cell["top1"].iloc[0] == pytest.approx(measured["top1"])
            assert cell["top1_kind"].iloc[0] == "measured" and bool(cell["accuracy_valid"].iloc[0])
    html = build_report([run["dir"]], tmp_path / "r.html").read_text(encoding="utf-8")
    int8 = _row(table, "tflite", "int8")
    n = int(int8["n"])
    assert f"measured: {RUN_ID} accuracy.csv (tflite, int8, {n} images, data {int8['data']})" in html
    assert f"{fmt.pct(int8['top1'])} (measured)" in html
    assert published["top1_source"] in html  # the published figure keeps its source
    assert "without a measured top-1 are not plotted" not in html  # every int8 point is plotted
    assert "diamonds: top-1 measured on the artifact" in html


def test_a_model_file_is_scored_through_its_runner(
    run: dict, spec: ModelSpec, folder: Path, checkpoint, tmp_path: Path
) -> None:
    """Your own ONNX file (the trained net, written by torch's TorchScript exporter, not by
    ghostbench): no --weights, its own format and precision, scored like the cached export."""
    import warnings

    from ghostbench.models import user

    pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install 'ghostbench[onnx]')")
    trained = weights.with_weights(spec, checkpoint).build()
    path = tmp_path / "shapes_theirs.onnx"
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(trained, (torch.zeros(1, 3, SIZE, SIZE),), str(path), dynamo=False)
    try:
        code, stdout, stderr = evaluate(str(path), "--data", str(folder), "--threads", "1")
        assert code == 0, stderr
        assert stdout.startswith("shapes_theirs onnx fp32: top-1 ")
        code, _, stderr = evaluate(str(path), "--weights", str(checkpoint), "--data", str(folder))
        assert code == 2 and "--weights does not apply" in stderr
    finally:
        user.deactivate()
    top1 = float(stdout.split("top-1 ")[1].split("%")[0])
    reference = _row(pd.read_csv(run["dir"] / "accuracy.csv"), "onnx", "fp32")["top1"]
    assert abs(top1 - reference) <= 100 / (len(CLASSES) * PER_CLASS_EVAL) + 0.01


def test_a_zoo_model_needs_its_weights(folder: Path) -> None:
    code, _, stderr = evaluate("ghostnet_050", "--data", str(folder))
    assert code == 2 and "give its trained weights with --weights" in stderr
