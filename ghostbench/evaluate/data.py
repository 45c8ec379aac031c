"""Labelled images for ``ghostbench evaluate``: the two ImageNet folder layouts, and each family's
official evaluation preprocessing (the accuracy of a checkpoint is only comparable to its published
figure when its images are prepared the way its authors prepared them).

Layouts (``docs/accuracy.md``):
- **class folders** (torchvision ``ImageFolder``): one sub-folder per class; class indices are the
  sorted folder names -> 0..N-1, so a folder must hold every class of the checkpoint (ImageNet:
  the 1000 synset folders ``n01440764`` ... in sorted order, which is the order of every checkpoint
  ghostbench loads). Empty class folders are fine and keep the numbering.
- **ILSVRC2012 validation layout**: all images in one folder plus a label file (``--labels``):
  ``NAME LABEL`` lines (``val.txt``; LABEL a 0-based index or a WordNet id), Kaggle's
  ``LOC_val_solution.csv``, or the devkit's ``ILSVRC2012_validation_ground_truth.txt`` with the
  devkit's ``meta.mat`` beside it (its ILSVRC2012 ids are mapped to sorted WordNet ids).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ghostbench.core.errors import GhostbenchError

if TYPE_CHECKING:
    from PIL import Image

    from ghostbench.models.registry import ModelSpec

# torchvision's IMG_EXTENSIONS: what ImageFolder counts as an image.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"}
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB, of pixel values scaled to [0, 1]
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_PCT = 0.875  # crop / resize: 224 / 256
WNID = re.compile(r"n\d{8}")
SHOWN = 3


@dataclass(frozen=True)
class Preprocessing:
    """Resize the shorter side to ``floor(crop / crop_pct)``, center-crop ``crop`` x ``crop``, order
    the channels, scale pixels, subtract ``mean`` and divide by ``std`` (both given in RGB order).

    ``interpolation``: ``bilinear`` or ``bicubic`` resize with PIL (antialiased, as torchvision and
    timm do), or ``opencv-linear``: bilinear without antialiasing, half-pixel centres, border
    replicated, as ``cv2.resize(INTER_LINEAR)`` in pycls and megvii's scripts. Output sizes and
    crop offsets follow torchvision's rounding for every recipe (others differ by one pixel at most).
    """

    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channels: str = "rgb"  # the order the network takes: rgb or bgr
    pixel_scale: float = 1 / 255  # 1/255: [0, 1] before mean/std; 1.0 keeps 0..255
    crop_pct: float = CROP_PCT
    source: str = ""

    def resize_size(self, crop: int) -> int:
        return math.floor(crop / self.crop_pct)

    def describe(self, crop: int) -> str:
        """One line that says how an image became the network's input (recorded with the result)."""
        scale = "/255" if self.pixel_scale == 1 / 255 else f"x{self.pixel_scale:g}"
        mean = ",".join(f"{v:g}" for v in self.mean)
        std = ",".join(f"{v:g}" for v in self.std)
        return (
            f"resize shorter side {self.resize_size(crop)} ({self.interpolation}), center crop {crop}, "
            f"{self.channels.upper()} {scale}, mean {mean} std {std} (RGB order); {self.source}"
        )

    def apply(self, image: Image.Image, crop: int) -> np.ndarray:
        """The network input for ``image``: float32, 1 x 3 x crop x crop."""
        from PIL import Image

        image = image.convert("RGB")
        width, height = image.size
        short = self.resize_size(crop)
        if width <= height:
            size = (short, int(short * height / width))
        else:
            size = (int(short * width / height), short)
        if self.interpolation == "opencv-linear":
            array = _resize_linear(np.asarray(image, dtype=np.float32), size)
        else:
            resample = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
            array = np.asarray(image.resize(size, resample[self.interpolation]), dtype=np.float32)
        top = round((array.shape[0] - crop) / 2.0)
        left = round((array.shape[1] - crop) / 2.0)
        array = array[top : top + crop, left : left + crop] * np.float32(self.pixel_scale)
        array = (array - np.float32(self.mean)) / np.float32(self.std)
        if self.channels == "bgr":
            array = array[..., ::-1]
        return np.ascontiguousarray(array.transpose(2, 0, 1)[None], dtype=np.float32)


def _resize_linear(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HWC float resize to (width, height) as ``cv2.resize(INTER_LINEAR)`` computes it in float."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]
    y = torch.nn.functional.interpolate(
        x, size=(size[1], size[0]), mode="bilinear", align_corners=False, antialias=False
    )
    return y[0].permute(1, 2, 0).numpy()


TORCHVISION = Preprocessing(
    "bilinear", IMAGENET_MEAN, IMAGENET_STD, source="torchvision ImageNet evaluation transforms"
)
# Family -> the preprocessing its official checkpoints were evaluated with.
RECIPES: dict[str, Preprocessing] = {
    "c-ghost": replace(TORCHVISION, source="huawei-noah ghostnet_pytorch/validate.py"),
    "g-ghost": replace(
        TORCHVISION, source="pytorch/examples imagenet/main.py, per huawei-noah g_ghost_pytorch/readme.md"
    ),
    "ghostnetv2": replace(
        TORCHVISION,
        interpolation="bicubic",
        source="timm resolve_data_config defaults, huawei-noah ghostnetv2_pytorch/train.py",
    ),
    "regnet": Preprocessing(
        "opencv-linear", IMAGENET_MEAN, IMAGENET_STD, channels="bgr", source="pycls datasets/imagenet.py"
    ),
    "efficientnet": replace(
        TORCHVISION, interpolation="bicubic", source="torchvision EfficientNet_B0_Weights.IMAGENET1K_V1"
    ),
}
# Models whose checkpoints come from elsewhere than the rest of their family.
MODEL_RECIPES: dict[str, Preprocessing] = {
    "shufflenetv1_g3_100": Preprocessing(
        "opencv-linear",
        (0.0, 0.0, 0.0),
        (1.0, 1.0, 1.0),
        channels="bgr",
        pixel_scale=1.0,
        source="megvii-model/ShuffleNet-Series ShuffleNetV1/train.py (OpencvResize, ToBGRTensor)",
    ),
}


def preprocessing_for(spec: ModelSpec) -> Preprocessing:
    """The model's own recipe, else its family's, else torchvision's (resize 256, crop 224, ImageNet
    mean/std, scaled to the model's input size)."""
    return MODEL_RECIPES.get(spec.name) or RECIPES.get(spec.family, TORCHVISION)


def load_image(path: Path, recipe: Preprocessing, crop: int) -> np.ndarray:
    """Decode ``path`` (any PIL mode, converted to RGB) and prepare it; a bad file is a user error."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return recipe.apply(image, crop)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise GhostbenchError(f"cannot read image {path}: {exc}") from None


@dataclass(frozen=True)
class Dataset:
    """Labelled images in a fixed order: sorted by class folder then path, or by path."""

    root: Path
    items: tuple[tuple[Path, int], ...]  # (image, class index)
    classes: tuple[str, ...]  # index -> folder name or WordNet id; empty for numeric labels
    layout: str  # "class folders" or "label file NAME"


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _names(values: list[str]) -> str:
    more = f" (+{len(values) - SHOWN} more)" if len(values) > SHOWN else ""
    return ", ".join(values[:SHOWN]) + more


def _class_count_error(root: Path, found: int, what: str, model: str, num_classes: int) -> GhostbenchError:
    return GhostbenchError(
        f"{root}: {found} {what} but {model} has {num_classes} classes; class indices are sorted names "
        f"-> 0..N-1, so the data must name every class of the checkpoint, in its order "
        f"(keep empty folders for classes without images; see docs/accuracy.md)"
    )


def _from_folders(root: Path, folders: list[Path], model: str, num_classes: int) -> Dataset:
    classes = tuple(sorted(f.name for f in folders))
    if len(classes) != num_classes:
        raise _class_count_error(root, len(classes), "class folders", model, num_classes)
    items = tuple(
        (path, index)
        for index, name in enumerate(classes)
        for path in sorted(p for p in (root / name).rglob("*") if _is_image(p))
    )
    return Dataset(root, items, classes, "class folders")


def _read_meta_mat(path: Path) -> dict[int, str]:
    """ILSVRC2012 id -> WordNet id of the 1000 leaf synsets in the devkit's ``meta.mat``."""
    from scipy.io import loadmat

    try:
        synsets = loadmat(path, squeeze_me=True)["synsets"]
    except (OSError, ValueError, KeyError) as exc:
        raise GhostbenchError(f"{path}: not the ILSVRC2012 devkit's meta.mat ({exc})") from None
    ids = np.atleast_1d(synsets["ILSVRC2012_ID"]).astype(int)
    wnids = [str(w) for w in np.atleast_1d(synsets["WNID"])]
    leaves = np.atleast_1d(synsets["num_children"]).astype(int) == 0
    return {int(i): w for i, w, leaf in zip(ids, wnids, leaves, strict=True) if leaf}


def read_labels(path: Path, num_classes: int) -> tuple[dict[str, int], tuple[str, ...]]:
    """Image name (without extension) -> class index, and the class names (WordNet ids) if known."""
    try:
        lines = [line.strip() for line in path.read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise GhostbenchError(f"cannot read labels {path}: {exc}") from None
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        raise GhostbenchError(f"{path}: no labels")
    if all(line.isdigit() for line in lines):  # devkit: line i is image ILSVRC2012_val_<i>
        meta = path.with_name("meta.mat")
        if not meta.is_file():
            raise GhostbenchError(
                f"{path}: ILSVRC2012 ids need the devkit's meta.mat beside it ({meta} not found)"
            )
        id_to_wnid = _read_meta_mat(meta)
        unknown = sorted({int(line) for line in lines} - set(id_to_wnid))
        if unknown:
            raise GhostbenchError(f"{path}: ids not among meta.mat's leaf synsets: {unknown[:SHOWN]}")
        pairs = [(f"ILSVRC2012_val_{i:08d}", id_to_wnid[int(line)]) for i, line in enumerate(lines, 1)]
        classes = tuple(sorted(id_to_wnid.values()))
    else:
        if lines[0].lower().replace(" ", "") == "imageid,predictionstring":  # Kaggle LOC_val_solution.csv
            lines = lines[1:]  # its rows split below like the others: commas and spaces alike
        pairs = []
        for number, line in enumerate(lines, 1):
            fields = line.replace(",", " ").split()
            if len(fields) < 2:
                raise GhostbenchError(f"{path}:{number}: expected NAME LABEL, got {line!r}")
            pairs.append((Path(fields[0]).stem, fields[1]))
        labels = [label for _, label in pairs]
        if all(label.isdigit() for label in labels):
            out_of_range = sorted({int(x) for x in labels if int(x) >= num_classes})
            if out_of_range:
                raise GhostbenchError(f"{path}: labels {out_of_range[:SHOWN]} >= {num_classes} classes")
            return {name: int(label) for name, label in pairs}, ()
        if not all(WNID.fullmatch(label) for label in labels):
            bad = next(label for label in labels if not WNID.fullmatch(label))
            raise GhostbenchError(f"{path}: label {bad!r} is neither a class index nor a WordNet id")
        classes = tuple(sorted(set(labels)))
    if len(classes) != num_classes:
        raise _class_count_error(path, len(classes), "WordNet ids", "the model", num_classes)
    index = {wnid: i for i, wnid in enumerate(classes)}
    return {name: index[wnid] for name, wnid in pairs}, classes


def _from_label_file(root: Path, labels: Path, num_classes: int) -> Dataset:
    by_name, classes = read_labels(labels, num_classes)
    images = sorted(p for p in root.iterdir() if _is_image(p))
    unlabelled = [p.name for p in images if p.stem not in by_name]
    if unlabelled:
        raise GhostbenchError(f"{labels} has no label for {len(unlabelled)} image(s): {_names(unlabelled)}")
    items = tuple((p, by_name[p.stem]) for p in images)
    return Dataset(root, items, classes, f"label file {labels.name}")


def open_dataset(root: Path, model: ModelSpec, labels: Path | None = None) -> Dataset:
    """The labelled images under ``root`` for ``model`` (its class count checks the layout)."""
    if not root.is_dir():
        raise GhostbenchError(f"--data {root}: not a folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if folders and labels is not None:
        raise GhostbenchError(
            f"{root} has class folders; --labels is for the ILSVRC2012 layout (all images in one folder)"
        )
    if folders:
        dataset = _from_folders(root, folders, model.name, model.num_classes)
    elif labels is not None:
        dataset = _from_label_file(root, labels, model.num_classes)
    else:
        raise GhostbenchError(
            f"{root} has no class folders; for the ILSVRC2012 validation layout (all images in one "
            "folder) give --labels FILE"
        )
    if not dataset.items:
        raise GhostbenchError(f"no images under {root} (extensions: {', '.join(sorted(IMAGE_EXTENSIONS))})")
    return dataset


def subset(items: tuple[tuple[Path, int], ...], limit: int | None) -> tuple[tuple[Path, int], ...]:
    """``limit`` images spread evenly over the fixed order (so over the classes), or all of them."""
    if limit is None or limit >= len(items):
        return items
    return tuple(items[i * len(items) // limit] for i in range(limit))
