"""ghostbench evaluate's data side: top-k arithmetic with ties, each family's preprocessing on images
whose correct input is known, the two folder layouts and the label-file formats, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from ghostbench.core.errors import GhostbenchError
from ghostbench.evaluate import data
from ghostbench.evaluate.score import Tally, topk_credit
from ghostbench.models import registry
from ghostbench.models.registry import ModelSpec

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def test_topk_credit_counts_ranks_and_splits_ties() -> None:
    logits = np.array([0.1, 3.0, 2.0, 2.0, -1.0, 0.5, 0.2])
    assert topk_credit(logits, 1, 1) == 1.0
    assert topk_credit(logits, 0, 1) == 0.0
    # Label 2 ties with class 3 behind one higher class: top-1 never, top-2 half the time.
    assert topk_credit(logits, 2, 1) == 0.0
    assert topk_credit(logits, 2, 2) == 0.5
    assert topk_credit(logits, 2, 3) == 1.0
    assert topk_credit(logits, 6, 5) == 1.0  # rank 5 of 7
    assert topk_credit(logits, 0, 5) == 0.0  # rank 6
    assert topk_credit(np.zeros(10), 3, 5) == 0.5  # all tied: 5 of 10 slots
    assert topk_credit(np.array([1.0, np.nan, 0.0]), 0, 1) == 0.0


def test_tally_percentages_and_nonfinite() -> None:
    tally = Tally()
    assert np.isnan(tally.top1)
    rows = np.eye(8)
    for label in range(8):  # 8 correct
        tally.add(rows[label], label)
    tally.add(rows[0], 1)  # wrong, but label 1 ties with 6 others for ranks 2-8: top-5 credit 4/7
    tally.add(np.full(8, np.inf), 0)  # overflow: a miss
    assert tally.n == 10 and tally.nonfinite == 1
    assert tally.top1 == pytest.approx(80.0)
    assert tally.top5 == pytest.approx(100 * (8 + 4 / 7) / 10)
    with pytest.raises(ValueError, match="outside"):
        tally.add(rows[0], 8)


def _coords_image(width: int, height: int) -> Image.Image:
    """Red = column, green = row (mod 256), blue = constant: a crop's position shows in its pixels."""
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    rgb = np.stack([x % 256, y % 256, np.full_like(x, 200)], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb)


def test_center_crop_of_an_image_already_at_resize_size() -> None:
    """Shorter side already 256: no resampling, the crop is the centre (torchvision's offsets)."""
    recipe = data.TORCHVISION
    out = recipe.apply(_coords_image(256, 300), 224)
    assert out.shape == (1, 3, 224, 224) and out.dtype == np.float32
    pixels = out[0].transpose(1, 2, 0) * STD + MEAN  # back to [0, 1]
    top, left = round((300 - 224) / 2), round((256 - 224) / 2)
    np.testing.assert_allclose(pixels[0, 0] * 255, [left, top, 200], atol=1e-3)
    np.testing.assert_allclose(pixels[-1, -1] * 255, [left + 223, (top + 223) % 256, 200], atol=1e-3)


def test_resize_keeps_aspect_and_normalises_constant_images() -> None:
    colour = (30, 120, 250)
    image = Image.new("RGB", (640, 480), colour)
    for recipe in (data.TORCHVISION, data.RECIPES["ghostnetv2"], data.RECIPES["regnet"]):
        out = recipe.apply(image, 32)
        expected = (np.array(colour, dtype=np.float32) / 255 - MEAN) / STD
        if recipe.channels == "bgr":
            expected = expected[::-1]
        np.testing.assert_allclose(out[0, :, 5, 7], expected, rtol=1e-5)
        np.testing.assert_allclose(out[0].std(axis=(1, 2)), 0, atol=1e-5)  # constant stays constant


def test_megvii_recipe_is_bgr_0_255_without_normalisation() -> None:
    spec = registry.get("shufflenetv1_g3_100")
    recipe = data.preprocessing_for(spec)
    out = recipe.apply(Image.new("RGB", (300, 260), (10, 20, 30)), spec.input_size)
    np.testing.assert_allclose(out[0, :, 100, 100], [30, 20, 10], atol=1e-4)


def test_opencv_linear_is_half_pixel_bilinear_without_antialias() -> None:
    """At an exact 2x downscale, half-pixel bilinear averages each 2x2 block; PIL's antialiased
    bilinear filter reaches further and gives something else on a checkerboard."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(64, 96, 3)).astype(np.uint8)
    image = Image.fromarray(rgb)
    cv = data.Preprocessing("opencv-linear", (0, 0, 0), (1, 1, 1), pixel_scale=1.0, crop_pct=1.0)
    out = cv.apply(image, 32)[0].transpose(1, 2, 0)  # resized to 48 x 32, crop 32 x 32 from column 8
    blocks = rgb.astype(np.float64).reshape(32, 2, 48, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(out, blocks[:, 8:40], atol=1e-3)
    pil = data.Preprocessing("bilinear", (0, 0, 0), (1, 1, 1), pixel_scale=1.0, crop_pct=1.0)
    assert np.abs(pil.apply(image, 32)[0].transpose(1, 2, 0) - blocks[:, 8:40]).max() > 5


def test_any_image_mode_becomes_three_channels(tmp_path: Path) -> None:
    for mode, value in (("L", 128), ("RGBA", (1, 2, 3, 4)), ("P", 3)):
        path = tmp_path / f"{mode}.png"
        Image.new(mode, (40, 50), value).save(path)
        assert data.load_image(path, data.TORCHVISION, 32).shape == (1, 3, 32, 32)
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(GhostbenchError, match=r"cannot read image .*bad\.jpg"):
        data.load_image(tmp_path / "bad.jpg", data.TORCHVISION, 32)


def test_family_recipes_name_their_source() -> None:
    cases = {
        "ghostnet_100": ("bilinear", "rgb", "ghostnet_pytorch/validate.py"),
        "g_ghost_regnetx_032": ("bilinear", "rgb", "pytorch/examples"),
        "ghostnetv2_100": ("bicubic", "rgb", "timm"),
        "regnetx_032": ("opencv-linear", "bgr", "pycls"),
        "shufflenetv1_g3_100": ("opencv-linear", "bgr", "ShuffleNet-Series"),
        "shufflenetv2_100": ("bilinear", "rgb", "torchvision"),
        "resnet50": ("bilinear", "rgb", "torchvision"),
    }
    for name, (interpolation, channels, source) in cases.items():
        spec = registry.get(name)
        recipe = data.preprocessing_for(spec)
        assert (recipe.interpolation, recipe.channels) == (interpolation, channels), name
        text = recipe.describe(spec.input_size)
        assert "resize shorter side 256" in text and "center crop 224" in text and source in text, text


def _spec(num_classes: int) -> ModelSpec:
    return ModelSpec(name="layout_probe", family="test", builder=lambda **_: None, num_classes=num_classes)


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8)).save(path)
    return path


def test_class_folders_map_sorted_names_to_indices(tmp_path: Path) -> None:
    for name in ("n03", "n01", "n02"):
        _image(tmp_path / name / "b.png")
        _image(tmp_path / name / "a.JPEG")
    (tmp_path / "n04").mkdir()  # a class without images keeps its index
    (tmp_path / "n02" / "notes.txt").write_text("not an image")
    _image(tmp_path / "n03" / "nested" / "c.png")
    dataset = data.open_dataset(tmp_path, _spec(4))
    assert dataset.classes == ("n01", "n02", "n03", "n04")
    assert dataset.layout == "class folders"
    got = [(p.relative_to(tmp_path).as_posix(), label) for p, label in dataset.items]
    assert got == [
        ("n01/a.JPEG", 0),
        ("n01/b.png", 0),
        ("n02/a.JPEG", 1),
        ("n02/b.png", 1),
        ("n03/a.JPEG", 2),
        ("n03/b.png", 2),
        ("n03/nested/c.png", 2),
    ]
    with pytest.raises(GhostbenchError, match="4 class folders but layout_probe has 1000 classes"):
        data.open_dataset(tmp_path, _spec(1000))
    with pytest.raises(GhostbenchError, match="--labels is for the ILSVRC2012 layout"):
        data.open_dataset(tmp_path, _spec(4), tmp_path / "labels.txt")


@pytest.fixture
def flat(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Five ILSVRC2012-named images and their WordNet ids (three classes)."""
    wnids = {1: "n00000003", 2: "n00000001", 3: "n00000003", 4: "n00000002", 5: "n00000001"}
    folder = tmp_path / "val"
    for i in wnids:
        _image(folder / f"ILSVRC2012_val_{i:08d}.JPEG")
    return folder, {f"ILSVRC2012_val_{i:08d}": w for i, w in wnids.items()}


def test_label_file_formats_give_the_same_labels(flat: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder, wnid = flat
    order = sorted(set(wnid.values()))
    expected = [(f"{name}.JPEG", order.index(w)) for name, w in sorted(wnid.items())]
    by_index = tmp_path / "val.txt"
    by_index.write_text("".join(f"{n}.JPEG {order.index(w)}\n" for n, w in wnid.items()))
    by_wnid = tmp_path / "val_wnid.txt"
    by_wnid.write_text("# name wnid\n" + "".join(f"{n}.JPEG {w}\n" for n, w in wnid.items()))
    kaggle = tmp_path / "LOC_val_solution.csv"
    kaggle.write_text(
        "ImageId,PredictionString\n" + "".join(f"{n},{w} 1 2 30 40 {w} 5 6 70 80\n" for n, w in wnid.items())
    )
    devkit = tmp_path / "devkit" / "ILSVRC2012_validation_ground_truth.txt"
    devkit.parent.mkdir()
    # meta.mat: ILSVRC2012 ids in WordNet-hierarchy order (not sorted), plus one non-leaf synset.
    ids = {"n00000002": 1, "n00000003": 2, "n00000001": 3}
    rows = [(i, w, 0) for w, i in ids.items()] + [(4, "n09999999", 3)]
    synsets = np.array(rows, dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("num_children", "O")])
    savemat(devkit.with_name("meta.mat"), {"synsets": synsets})
    devkit.write_text("".join(f"{ids[wnid[n]]}\n" for n in sorted(wnid)))
    for labels in (by_index, by_wnid, kaggle, devkit):
        dataset = data.open_dataset(folder, _spec(3), labels)
        assert [(p.name, label) for p, label in dataset.items] == expected, labels.name
        assert dataset.layout == f"label file {labels.name}"
    assert data.open_dataset(folder, _spec(3), by_wnid).classes == tuple(order)


def test_label_file_errors(flat: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    folder, wnid = flat
    labels = tmp_path / "val.txt"
    names = sorted(wnid)
    labels.write_text("".join(f"{n} 0\n" for n in names[:-1]))
    with pytest.raises(GhostbenchError, match=r"no label for 1 image\(s\): ILSVRC2012_val_00000005\.JPEG"):
        data.open_dataset(folder, _spec(3), labels)
    labels.write_text("".join(f"{n} 7\n" for n in names))
    with pytest.raises(GhostbenchError, match=r"labels \[7\] >= 3 classes"):
        data.open_dataset(folder, _spec(3), labels)
    labels.write_text("".join(f"{n} {w}\n" for n, w in wnid.items()))
    with pytest.raises(GhostbenchError, match="3 WordNet ids but the model has 1000 classes"):
        data.open_dataset(folder, _spec(1000), labels)
    labels.write_text("1\n2\n")
    with pytest.raises(GhostbenchError, match=r"need the devkit's meta\.mat beside it"):
        data.open_dataset(folder, _spec(3), labels)
    with pytest.raises(GhostbenchError, match=r"no class folders; .* give --labels FILE"):
        data.open_dataset(folder, _spec(3))


def test_limit_spreads_over_the_classes() -> None:
    items = tuple((Path(f"{c}/{i}.png"), c) for c in range(10) for i in range(20))
    chosen = data.subset(items, 10)
    assert [label for _, label in chosen] == list(range(10))
    assert data.subset(items, 500) == items
