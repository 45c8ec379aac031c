"""C-Ghost: GhostNet (Han et al., "GhostNet: More Features from Cheap Operations", CVPR 2020).

Layer names and shapes match huawei-noah/Efficient-AI-Backbones ``ghostnet_pytorch/ghostnet.py``,
so its ``state_dict_73.98.pth`` loads with ``strict=True``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ghostbench.models.blocks import ConvBnAct, GhostBottleneck, init_weights, make_divisible
from ghostbench.models.registry import register_model

PAPER = "GhostNet (Han et al., CVPR 2020)"

# One row per bottleneck: kernel, expansion (hidden) channels, output channels, SE ratio, stride.
# Rows are grouped into the official code's stages (nn.Sequential indices in ``blocks``).
GHOST_CFG: list[list[tuple[int, int, int, float, int]]] = [
    [(3, 16, 16, 0, 1)],
    [(3, 48, 24, 0, 2)],
    [(3, 72, 24, 0, 1)],
    [(5, 72, 40, 0.25, 2)],
    [(5, 120, 40, 0.25, 1)],
    [(3, 240, 80, 0, 2)],
    [
        (3, 200, 80, 0, 1),
        (3, 184, 80, 0, 1),
        (3, 184, 80, 0, 1),
        (3, 480, 112, 0.25, 1),
        (3, 672, 112, 0.25, 1),
    ],
    [(5, 672, 160, 0.25, 2)],
    [
        (5, 960, 160, 0, 1),
        (5, 960, 160, 0.25, 1),
        (5, 960, 160, 0, 1),
        (5, 960, 160, 0.25, 1),
    ],
]


class GhostNet(nn.Module):
    """Stem, the stages of ``GHOST_CFG`` and the 1280-wide head; GhostNetV2 changes the bottleneck
    only (:meth:`make_block`)."""

    def __init__(self, width: float = 1.0, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        self.dropout = dropout
        stem_chs = make_divisible(16 * width, 4)
        self.conv_stem = nn.Conv2d(3, stem_chs, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_chs)
        self.act1 = nn.ReLU(inplace=True)
        in_chs = stem_chs
        index = 0
        stages: list[nn.Module] = []
        for stage in GHOST_CFG:
            layers = []
            for k, exp, c, se_ratio, s in stage:
                out_chs = make_divisible(c * width, 4)
                mid_chs = make_divisible(exp * width, 4)
                layers.append(self.make_block(index, in_chs, mid_chs, out_chs, k, s, se_ratio))
                in_chs = out_chs
                index += 1
            stages.append(nn.Sequential(*layers))
        last_chs = make_divisible(exp * width, 4)
        stages.append(nn.Sequential(ConvBnAct(in_chs, last_chs, 1)))
        self.blocks = nn.Sequential(*stages)
        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.conv_head = nn.Conv2d(last_chs, 1280, 1, 1, 0, bias=True)
        self.act2 = nn.ReLU(inplace=True)
        self.classifier = nn.Linear(1280, num_classes)
        init_weights(self)

    def make_block(
        self, index: int, in_chs: int, mid_chs: int, out_chs: int, kernel: int, stride: int, se_ratio: float
    ) -> nn.Module:
        """Bottleneck number ``index`` (counted across stages from 0)."""
        return GhostBottleneck(in_chs, mid_chs, out_chs, kernel, stride, se_ratio=se_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        x = self.act2(self.conv_head(self.global_pool(x)))
        x = x.flatten(1)
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.classifier(x)


@register_model("ghostnet_050", "c-ghost", paper=PAPER, width=0.5)
@register_model("ghostnet_100", "c-ghost", paper=PAPER, width=1.0)
@register_model("ghostnet_130", "c-ghost", paper=PAPER, width=1.3)
def ghostnet(width: float = 1.0, num_classes: int = 1000) -> GhostNet:
    return GhostNet(width=width, num_classes=num_classes)
