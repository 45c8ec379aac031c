"""RegNetX (Radosavovic et al., "Designing Network Design Spaces", CVPR 2020), as built by pycls.

A variant is five numbers, ``RegNetParams(w0, wa, wm, depth, group_w)`` (pycls
``configs/dds_baselines/regnetx/*.yaml``); :func:`regnet_stages` turns them into per-stage
widths, depths and group widths by pycls's rule (``generate_regnet``, then
``adjust_block_compatibility`` with bottleneck ratio 1). G-Ghost RegNetX (``g_ghost.py``) derives
its stages from the same table.

Module names follow pycls (``stem``, ``s1.b1.f.a``, ``head.fc``) so pycls's model-zoo weights load
with ``strict=True``, and the complexity equals pycls's golden ``dev/model_complexity.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ghostbench.models.blocks import init_weights
from ghostbench.models.registry import register_model

PAPER = "Designing Network Design Spaces (Radosavovic et al., CVPR 2020)"
STEM_W = 32  # pycls REGNET.STEM_W: a 3x3 stride-2 conv, BN, ReLU
QUANT = 8  # pycls generate_regnet(q=8): per-block widths are multiples of 8


@dataclass(frozen=True)
class RegNetParams:
    """Initial width, slope, width multiplier, number of blocks, group width (pycls ``REGNET.*``)."""

    w0: int
    wa: float
    wm: float
    depth: int
    group_w: int


@dataclass(frozen=True)
class RegNetStages:
    """Per-stage widths, depths and group widths; every stage starts with a stride-2 block."""

    widths: tuple[int, ...]
    depths: tuple[int, ...]
    group_ws: tuple[int, ...]


# pycls configs/dds_baselines/regnetx/RegNetX-*_dds_8gpu.yaml, keyed by the name's size suffix.
REGNETX: dict[str, RegNetParams] = {
    "002": RegNetParams(w0=24, wa=36.44, wm=2.49, depth=13, group_w=8),
    "004": RegNetParams(w0=24, wa=24.48, wm=2.54, depth=22, group_w=16),
    "006": RegNetParams(w0=48, wa=36.97, wm=2.24, depth=16, group_w=24),
    "008": RegNetParams(w0=56, wa=35.73, wm=2.28, depth=16, group_w=16),
    "016": RegNetParams(w0=80, wa=34.01, wm=2.25, depth=18, group_w=24),
    "032": RegNetParams(w0=88, wa=26.31, wm=2.25, depth=25, group_w=48),
    "040": RegNetParams(w0=96, wa=38.65, wm=2.43, depth=23, group_w=40),
    "064": RegNetParams(w0=184, wa=60.83, wm=2.07, depth=17, group_w=56),
    "080": RegNetParams(w0=80, wa=49.56, wm=2.88, depth=23, group_w=120),
    "120": RegNetParams(w0=168, wa=73.36, wm=2.37, depth=19, group_w=112),
    "160": RegNetParams(w0=216, wa=55.59, wm=2.1, depth=22, group_w=128),
    "320": RegNetParams(w0=320, wa=69.86, wm=2.0, depth=23, group_w=168),
}


def regnet_stages(p: RegNetParams) -> RegNetStages:
    """pycls's rule: linear widths ``w0 + wa * j`` snapped to ``w0 * wm**k``, rounded to multiples
    of 8, grouped into stages of equal width; then each stage's group width is capped at its width
    and the width rounded to a multiple of it (``adjust_block_compatibility``, bottleneck ratio 1).

    Python's ``round`` halves to even like pycls's ``np.round``; the test checks every table entry.
    """
    if not (p.wa >= 0 and p.w0 > 0 and p.wm > 1 and p.w0 % QUANT == 0):
        raise ValueError(f"invalid RegNet parameters: {p}")
    block_ws = []
    for j in range(p.depth):
        k = round(math.log((p.w0 + p.wa * j) / p.w0) / math.log(p.wm))
        block_ws.append(round(p.w0 * p.wm**k / QUANT) * QUANT)
    stage_ws = sorted(set(block_ws))
    depths = tuple(block_ws.count(w) for w in stage_ws)
    group_ws = tuple(min(p.group_w, w) for w in stage_ws)
    widths = tuple(max(g, round(w / g) * g) for w, g in zip(stage_ws, group_ws, strict=True))
    return RegNetStages(widths=widths, depths=depths, group_ws=group_ws)


class SimpleStem(nn.Module):
    """pycls ``SimpleStem``: 3x3 stride-2 conv, BN, ReLU."""

    def __init__(self, out_chs: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, out_chs, 3, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_chs)
        self.af = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.af(self.bn(self.conv(x)))


class BottleneckTransform(nn.Module):
    """pycls ``BottleneckTransform`` with bottleneck ratio 1 and no SE: 1x1, grouped 3x3, 1x1."""

    def __init__(self, in_chs: int, out_chs: int, stride: int, group_w: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(in_chs, out_chs, 1, bias=False)
        self.a_bn = nn.BatchNorm2d(out_chs)
        self.a_af = nn.ReLU(inplace=True)
        self.b = nn.Conv2d(out_chs, out_chs, 3, stride, 1, groups=out_chs // group_w, bias=False)
        self.b_bn = nn.BatchNorm2d(out_chs)
        self.b_af = nn.ReLU(inplace=True)
        self.c = nn.Conv2d(out_chs, out_chs, 1, bias=False)
        self.c_bn = nn.BatchNorm2d(out_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a_af(self.a_bn(self.a(x)))
        x = self.b_af(self.b_bn(self.b(x)))
        return self.c_bn(self.c(x))


class ResBottleneckBlock(nn.Module):
    """pycls ``ResBottleneckBlock``: ReLU(proj(x) + f(x)), proj a strided 1x1 conv + BN when needed."""

    def __init__(self, in_chs: int, out_chs: int, stride: int, group_w: int) -> None:
        super().__init__()
        self.proj, self.bn = None, None
        if in_chs != out_chs or stride != 1:
            self.proj = nn.Conv2d(in_chs, out_chs, 1, stride, bias=False)
            self.bn = nn.BatchNorm2d(out_chs)
        self.f = BottleneckTransform(in_chs, out_chs, stride, group_w)
        self.af = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj is None else self.bn(self.proj(x))
        return self.af(shortcut + self.f(x))


class Head(nn.Module):
    """pycls ``AnyHead`` with ``HEAD_W = 0``: global average pool and a linear classifier."""

    def __init__(self, in_chs: int, num_classes: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_chs, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.avg_pool(x).flatten(1))


class RegNet(nn.Module):
    """Stem, four stages ``s1``..``s4`` of blocks ``b1``..``bN`` (first one strided), head."""

    def __init__(self, cfg: RegNetParams, num_classes: int = 1000) -> None:
        super().__init__()
        stages = regnet_stages(cfg)
        self.stem = SimpleStem(STEM_W)
        in_chs = STEM_W
        for i, (w, d, g) in enumerate(zip(stages.widths, stages.depths, stages.group_ws, strict=True)):
            stage = nn.Sequential()
            for j in range(d):
                stage.add_module(f"b{j + 1}", ResBottleneckBlock(in_chs, w, 2 if j == 0 else 1, g))
                in_chs = w
            self.add_module(f"s{i + 1}", stage)
        self.head = Head(in_chs, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x


@register_model("regnetx_002", "regnet", paper=PAPER, cfg=REGNETX["002"])
@register_model("regnetx_004", "regnet", paper=PAPER, cfg=REGNETX["004"])
@register_model("regnetx_006", "regnet", paper=PAPER, cfg=REGNETX["006"])
@register_model("regnetx_008", "regnet", paper=PAPER, cfg=REGNETX["008"])
@register_model("regnetx_016", "regnet", paper=PAPER, cfg=REGNETX["016"])
@register_model("regnetx_032", "regnet", paper=PAPER, cfg=REGNETX["032"])
@register_model("regnetx_040", "regnet", paper=PAPER, cfg=REGNETX["040"])
@register_model("regnetx_064", "regnet", paper=PAPER, cfg=REGNETX["064"])
@register_model("regnetx_080", "regnet", paper=PAPER, cfg=REGNETX["080"])
@register_model("regnetx_120", "regnet", paper=PAPER, cfg=REGNETX["120"])
@register_model("regnetx_160", "regnet", paper=PAPER, cfg=REGNETX["160"])
@register_model("regnetx_320", "regnet", paper=PAPER, cfg=REGNETX["320"])
def regnetx(cfg: RegNetParams, num_classes: int = 1000) -> RegNet:
    return RegNet(cfg, num_classes=num_classes)
