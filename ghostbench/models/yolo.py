"""YOLOv8 detectors and the Ghost variants of the reference table (issue 12; see docs/detection.md).

The architecture follows Ultralytics' ``yolov8.yaml`` (read, not copied): a CSP backbone of C2f
blocks and SPPF, a PAN neck, and the decoupled anchor-free head with a DFL box distribution. The
Ghost variants swap the bottlenecks inside the four backbone C2f blocks for the classifiers' own
blocks (GhostNet's, GhostNetV2's, G-Ghost RegNet's); the neck keeps YOLOv8's bottlenecks.

The forward pass is one graph with static shapes and no Python branches on data, and returns one
tensor, what Ultralytics exports: ``(batch, 4 + num_classes, anchors)``, boxes as pixel
``(cx, cy, w, h)`` decoded from the DFL distribution, then class probabilities (sigmoid). 8,400
anchors at 640x640. NMS is left to the caller: it is not part of the timed graph.

Registered models are single-class (the reference table is) and built fused (Conv-BN folded), as
inference runs them and as the table counts them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from ghostbench.models.blocks import (
    ConvBnAct,
    GhostBottleneck,
    calibrate_batchnorm,
    fuse_conv_bn,
    init_weights,
)
from ghostbench.models.g_ghost import regnet_block
from ghostbench.models.ghostnetv2 import GhostBottleneckV2
from ghostbench.models.registry import register_model

PAPER = "YOLOv8 (Jocher, Chaurasia and Qiu, Ultralytics 2023)"
GHOST_PAPER = f"{PAPER}; backbone C2f with Ghost bottlenecks (seed 003)"
INPUT_SIZE = 640
STRIDES = (8, 16, 32)  # P3, P4, P5: the levels the head predicts on
REG_MAX = 16  # DFL bins per box side


@dataclass(frozen=True)
class YoloScale:
    """Ultralytics compound scaling: repeats x ``depth``, channels x ``width`` capped at ``max_channels``."""

    depth: float
    width: float
    max_channels: int

    def channels(self, c: int) -> int:
        return math.ceil(min(c, self.max_channels) * self.width / 8) * 8

    def repeats(self, n: int) -> int:
        return max(round(n * self.depth), 1)


SCALES = {"n": YoloScale(0.33, 0.25, 1024), "s": YoloScale(0.33, 0.50, 1024)}


def conv(in_chs: int, out_chs: int, kernel_size: int = 1, stride: int = 1) -> ConvBnAct:
    """Ultralytics' ``Conv``: conv (same padding) + BN + SiLU."""
    return ConvBnAct(in_chs, out_chs, kernel_size, stride, act_layer=nn.SiLU)


class Bottleneck(nn.Module):
    """YOLOv8's C2f bottleneck: two 3x3 convs (no channel change), residual when ``shortcut``."""

    def __init__(self, chs: int, shortcut: bool) -> None:
        super().__init__()
        self.shortcut = shortcut
        self.cv1 = conv(chs, chs, 3)
        self.cv2 = conv(chs, chs, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.shortcut else y


# Blocks that can stand in the backbone C2f: ``chs -> chs`` channels, stride 1, with a residual.
# GhostNet's and GhostNetV2's expand to ``chs`` (as C2f's own bottleneck, expansion 1.0) without SE;
# G-Ghost RegNet's is its 1x1 / depthwise 3x3 / 1x1 bottleneck (group width 1, the official default).
# ``ghostv2_nodfc`` is GhostNetV2's bottleneck in its first-two-layers form (no DFC attention): the
# configuration the reference table's V2 row counts (docs/detection.md).
BACKBONE_BLOCKS: dict[str, Callable[[int], nn.Module]] = {
    "yolo": lambda chs: Bottleneck(chs, shortcut=True),
    "ghost": lambda chs: GhostBottleneck(chs, chs, chs),
    "ghostv2": lambda chs: GhostBottleneckV2(chs, chs, chs, dfc=True),
    "ghostv2_nodfc": lambda chs: GhostBottleneckV2(chs, chs, chs, dfc=False),
    "gghost": lambda chs: regnet_block(chs, chs, 1, group_w=1),
}


class C2f(nn.Module):
    """CSP block with two convs: ``cv1`` splits into two halves, the blocks chain on the second half,
    and ``cv2`` mixes every intermediate map: ``(2 + n) x hidden -> out_chs``."""

    def __init__(self, in_chs: int, out_chs: int, block: Callable[[int], nn.Module], n: int) -> None:
        super().__init__()
        hidden = out_chs // 2
        self.cv1 = conv(in_chs, 2 * hidden)
        self.m = nn.ModuleList(block(hidden) for _ in range(n))
        self.cv2 = conv((2 + n) * hidden, out_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).chunk(2, 1))
        for block in self.m:
            y.append(block(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): three chained 5x5 max-pools, concatenated with their input."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int = 5) -> None:
        super().__init__()
        hidden = in_chs // 2
        self.cv1 = conv(in_chs, hidden)
        self.pool = nn.MaxPool2d(kernel_size, 1, kernel_size // 2)
        self.cv2 = conv(4 * hidden, out_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.pool(y[-1]))
        return self.cv2(torch.cat(y, 1))


class DFL(nn.Module):
    """Distribution focal loss decoding: each box side is the expected bin of a softmax over
    ``reg_max`` bins, as a fixed 1x1 conv with weights ``0 .. reg_max - 1``.

    The weights are a frozen parameter, not a buffer, because Ultralytics counts them (16 of
    YOLOv8s' 11,166,560 parameters); being no ``nn.Conv2d``, ``init_weights`` leaves them alone.
    """

    def __init__(self, reg_max: int = REG_MAX) -> None:
        super().__init__()
        self.reg_max = reg_max
        bins = torch.arange(reg_max, dtype=torch.float32).view(1, reg_max, 1, 1)
        self.weight = nn.Parameter(bins, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape  # (batch, 4 * reg_max, anchors)
        probs = x.view(b, 4, self.reg_max, a).transpose(1, 2).softmax(1)
        return nn.functional.conv2d(probs, self.weight).view(b, 4, a)


def make_anchors(feats: list[torch.Tensor], strides: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor centres ``(2, anchors)`` in grid units and the stride of each anchor ``(1, anchors)``,
    level by level, row-major. Built from static shapes, so exporters see constants."""
    points, stride_rows = [], []
    for feat, stride in zip(feats, strides, strict=True):
        h, w = feat.shape[-2:]
        ys = torch.arange(h, dtype=feat.dtype, device=feat.device) + 0.5
        xs = torch.arange(w, dtype=feat.dtype, device=feat.device) + 0.5
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack((gx.flatten(), gy.flatten())))
        stride_rows.append(torch.full((1, h * w), float(stride), dtype=feat.dtype, device=feat.device))
    return torch.cat(points, 1), torch.cat(stride_rows, 1)


class Detect(nn.Module):
    """Decoupled anchor-free head (YOLOv8's): per level a box branch (two 3x3 convs, then
    ``4 x reg_max`` distribution logits) and a class branch (two 3x3 convs, then class logits)."""

    def __init__(self, num_classes: int, in_chs: tuple[int, ...], reg_max: int = REG_MAX) -> None:
        super().__init__()
        box_chs = max(16, in_chs[0] // 4, 4 * reg_max)
        cls_chs = max(in_chs[0], min(num_classes, 100))
        self.box = nn.ModuleList(
            nn.Sequential(conv(c, box_chs, 3), conv(box_chs, box_chs, 3), nn.Conv2d(box_chs, 4 * reg_max, 1))
            for c in in_chs
        )
        self.cls = nn.ModuleList(
            nn.Sequential(conv(c, cls_chs, 3), conv(cls_chs, cls_chs, 3), nn.Conv2d(cls_chs, num_classes, 1))
            for c in in_chs
        )
        self.dfl = DFL(reg_max)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        dist = torch.cat([branch(f).flatten(2) for branch, f in zip(self.box, feats, strict=True)], 2)
        logits = torch.cat([branch(f).flatten(2) for branch, f in zip(self.cls, feats, strict=True)], 2)
        anchors, strides = make_anchors(feats, STRIDES)
        left_top, right_bottom = self.dfl(dist).chunk(2, 1)
        x1y1, x2y2 = anchors - left_top, anchors + right_bottom
        boxes = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides
        return torch.cat((boxes, logits.sigmoid()), 1)


class YOLOv8(nn.Module):
    """YOLOv8 at one ``scale``; ``backbone_block`` (a ``BACKBONE_BLOCKS`` key) fills the backbone C2f."""

    def __init__(self, scale: str = "n", num_classes: int = 80, backbone_block: str = "yolo") -> None:
        super().__init__()
        sc = SCALES[scale]
        c1, c2, c3, c4, c5 = (sc.channels(c) for c in (64, 128, 256, 512, 1024))
        block = BACKBONE_BLOCKS[backbone_block]
        plain = partial(Bottleneck, shortcut=False)  # the neck's C2f have no residual
        self.stem = conv(3, c1, 3, 2)  # P1/2
        self.stage2 = nn.Sequential(conv(c1, c2, 3, 2), C2f(c2, c2, block, sc.repeats(3)))  # P2/4
        self.stage3 = nn.Sequential(conv(c2, c3, 3, 2), C2f(c3, c3, block, sc.repeats(6)))  # P3/8
        self.stage4 = nn.Sequential(conv(c3, c4, 3, 2), C2f(c4, c4, block, sc.repeats(6)))  # P4/16
        stage5 = (conv(c4, c5, 3, 2), C2f(c5, c5, block, sc.repeats(3)), SPPF(c5, c5))
        self.stage5 = nn.Sequential(*stage5)  # P5/32
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        n = sc.repeats(3)
        self.top_down4 = C2f(c5 + c4, c4, plain, n)
        self.top_down3 = C2f(c4 + c3, c3, plain, n)
        self.down3 = conv(c3, c3, 3, 2)
        self.bottom_up4 = C2f(c3 + c4, c4, plain, n)
        self.down4 = conv(c4, c4, 3, 2)
        self.bottom_up5 = C2f(c4 + c5, c5, plain, n)
        self.head = Detect(num_classes, (c3, c4, c5))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p3 = self.stage3(self.stage2(self.stem(x)))
        p4 = self.stage4(p3)
        p5 = self.stage5(p4)
        t4 = self.top_down4(torch.cat((self.up(p5), p4), 1))
        n3 = self.top_down3(torch.cat((self.up(t4), p3), 1))
        n4 = self.bottom_up4(torch.cat((self.down3(n3), t4), 1))
        n5 = self.bottom_up5(torch.cat((self.down4(n4), p5), 1))
        return self.head([n3, n4, n5])


def yolov8(
    scale: str = "n", num_classes: int = 80, backbone_block: str = "yolo", fused: bool = False
) -> YOLOv8:
    """Build a YOLOv8; ``fused`` calibrates BatchNorm first (``blocks.calibrate_batchnorm``, so the
    folded random weights keep unit-scale activations), then folds it into the convs."""
    model = YOLOv8(scale, num_classes, backbone_block)
    if fused:
        if not next(model.parameters()).is_meta:  # meta (complexity counting) has no values
            calibrate_batchnorm(model, INPUT_SIZE)
        fuse_conv_bn(model)
    return model


# Single-class and fused, as the reference table; ``spec.build(num_classes=80)`` gives COCO's head.
_DETECTION = {"input_size": INPUT_SIZE, "task": "detection", "num_classes": 1, "fused": True}
_GHOST = {"paper": GHOST_PAPER, "scale": "n", **_DETECTION}

register_model("yolov8n", "detection", paper=PAPER, scale="n", **_DETECTION)(yolov8)
register_model("yolov8s", "detection", paper=PAPER, scale="s", **_DETECTION)(yolov8)
register_model("yolov8n_c2f_ghost", "detection", backbone_block="ghost", **_GHOST)(yolov8)
register_model("yolov8n_c2f_ghostv2", "detection", backbone_block="ghostv2", **_GHOST)(yolov8)
register_model("yolov8n_c2f_gghost", "detection", backbone_block="gghost", **_GHOST)(yolov8)
