"""G-Ghost RegNetX (Han et al., "GhostNets on Heterogeneous Devices via Cheap Operations", IJCV 2022).

A G-Ghost stage keeps RegNetX's first and last blocks, runs the blocks in between on only the first
``raw`` channels of the first block's output, and makes the other ``cheap`` channels with a 1x1
conv + BN ("cheap operation") plus a broadcast term ``merge`` computed from the pooled
intermediate features of every block: stage-wise ghost features, built for GPU-like devices where
few wide layers beat many cheap ones.

Stages come from ``RegNetParams`` by pycls's rule (``regnet.regnet_stages``); module names and shapes
equal huawei-noah/Efficient-AI-Backbones ``g_ghost_pytorch/g_ghost_regnet.py`` so its released
checkpoints load with ``strict=True``. The official code fixes three details that the paper leaves
open, and we follow it:

- stage 1 is a plain RegNetX stage; stages 2-4 are G-Ghost stages when they have more than two
  blocks (the official code always makes stage 3 one, and every configuration has 4+ blocks there);
- blocks inside a G-Ghost stage use group width ``int(0.75 * group_w)``, and
  ``raw = int(width * (1 - cheap_ratio) / int(0.75 * group_w)) * int(0.75 * group_w)``, so with
  ``cheap_ratio = 0.5`` the cheap part is at least half of the channels (RegNetX-3.2GF stage 2:
  raw 72, cheap 120 of 192);
- the merge branch concatenates the first block's output and every inner block's output at full
  resolution, then pools (the official forward); a dropout of 0.2 precedes the classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from ghostbench.models.blocks import ResBottleneck, init_weights
from ghostbench.models.registry import register_model
from ghostbench.models.regnet import REGNETX, STEM_W, RegNetParams, regnet_stages

PAPER = "GhostNets on Heterogeneous Devices via Cheap Operations (Han et al., IJCV 2022)"
CHEAP_RATIO = 0.5  # official g_ghost_regnet.py: every G-Ghost stage uses cheap_ratio=0.5
INNER_GROUP_SCALE = 0.75  # official: group width of the blocks between the first and last


def regnet_block(in_chs: int, out_chs: int, stride: int, group_w: int) -> ResBottleneck:
    """A RegNetX block in the torchvision layout: bottleneck ratio 1, 3x3 groups of ``group_w``."""
    return ResBottleneck(in_chs, out_chs, out_chs, stride, groups=out_chs // min(out_chs, group_w))


class GGhostStage(nn.Module):
    """One G-Ghost stage of ``depth`` blocks (``depth >= 3``): ``base`` (strided), ``depth - 2``
    inner ``layers`` on the raw channels, the cheap channels, then ``end``."""

    def __init__(
        self, in_chs: int, out_chs: int, depth: int, group_w: int, cheap_ratio: float = CHEAP_RATIO
    ) -> None:
        super().__init__()
        if depth < 3:
            raise ValueError(f"a G-Ghost stage needs at least 3 blocks, got {depth}")
        inner_group_w = int(group_w * INNER_GROUP_SCALE)
        self.raw_planes = int(out_chs * (1 - cheap_ratio) / inner_group_w) * inner_group_w
        cheap_planes = out_chs - self.raw_planes
        self.base = regnet_block(in_chs, out_chs, 2, group_w)
        self.end = regnet_block(out_chs, out_chs, 1, group_w)
        self.merge = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(out_chs + self.raw_planes * (depth - 2), cheap_planes, 1, bias=False),
            nn.BatchNorm2d(cheap_planes),
            nn.ReLU(inplace=True),
            nn.Conv2d(cheap_planes, cheap_planes, 1, bias=False),
            nn.BatchNorm2d(cheap_planes),
        )
        self.cheap = nn.Sequential(
            nn.Conv2d(cheap_planes, cheap_planes, 1, bias=False),
            nn.BatchNorm2d(cheap_planes),
        )
        self.cheap_relu = nn.ReLU(inplace=True)
        raw = self.raw_planes
        self.layers = nn.Sequential(*(regnet_block(raw, raw, 1, inner_group_w) for _ in range(depth - 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.base(x)
        raw = x0[:, : self.raw_planes]
        features = [x0]
        for layer in self.layers:
            raw = layer(raw)
            features.append(raw)
        merged = self.merge(torch.cat(features, 1))
        cheap = self.cheap_relu(self.cheap(x0[:, self.raw_planes :]) + merged)
        return self.end(torch.cat((raw, cheap), 1))


class GGhostRegNet(nn.Module):
    """RegNetX stem and head (official names: ``conv1``, ``bn1``, ``layer1``..``layer4``, ``fc``)."""

    def __init__(self, cfg: RegNetParams, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        stages = regnet_stages(cfg)
        self.conv1 = nn.Conv2d(3, STEM_W, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_W)
        self.relu = nn.ReLU(inplace=True)
        in_chs = STEM_W
        for i, (w, d, g) in enumerate(zip(stages.widths, stages.depths, stages.group_ws, strict=True)):
            # g is min(group_w, w); stages 2-4 of every official configuration have w >= group_w,
            # so the inner group width int(0.75 * g) is the official int(0.75 * group_width).
            if i > 0 and d > 2:
                layer: nn.Module = GGhostStage(in_chs, w, d, g)
            else:
                layer = nn.Sequential(
                    *(regnet_block(in_chs if j == 0 else w, w, 2 if j == 0 else 1, g) for j in range(d))
                )
            self.add_module(f"layer{i + 1}", layer)
            in_chs = w
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_chs, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.dropout(self.avgpool(x).flatten(1)))


@register_model("g_ghost_regnetx_002", "g-ghost", paper=PAPER, cfg=REGNETX["002"])
@register_model("g_ghost_regnetx_004", "g-ghost", paper=PAPER, cfg=REGNETX["004"])
@register_model("g_ghost_regnetx_006", "g-ghost", paper=PAPER, cfg=REGNETX["006"])
@register_model("g_ghost_regnetx_008", "g-ghost", paper=PAPER, cfg=REGNETX["008"])
@register_model("g_ghost_regnetx_016", "g-ghost", paper=PAPER, cfg=REGNETX["016"])
@register_model("g_ghost_regnetx_032", "g-ghost", paper=PAPER, cfg=REGNETX["032"])
@register_model("g_ghost_regnetx_040", "g-ghost", paper=PAPER, cfg=REGNETX["040"])
@register_model("g_ghost_regnetx_064", "g-ghost", paper=PAPER, cfg=REGNETX["064"])
@register_model("g_ghost_regnetx_080", "g-ghost", paper=PAPER, cfg=REGNETX["080"])
@register_model("g_ghost_regnetx_120", "g-ghost", paper=PAPER, cfg=REGNETX["120"])
@register_model("g_ghost_regnetx_160", "g-ghost", paper=PAPER, cfg=REGNETX["160"])
@register_model("g_ghost_regnetx_320", "g-ghost", paper=PAPER, cfg=REGNETX["320"])
def g_ghost_regnetx(cfg: RegNetParams, num_classes: int = 1000) -> GGhostRegNet:
    return GGhostRegNet(cfg, num_classes=num_classes)
