"""MobileNetV2 (Sandler et al., CVPR 2018) and MobileNetV3 Large/Small (Howard et al., ICCV 2019).

Both are one config table each over ``blocks.InvertedResidual``. Layer counts, widths and the
head follow torchvision's ``mobilenetv2.py`` / ``mobilenetv3.py`` (parameter counts equal
torchvision's 3,504,872 / 5,483,032 / 2,542,856); submodule names are ours, so torchvision
checkpoints would need a key remap.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from ghostbench.models.blocks import ConvBnAct, InvertedResidual, SqueezeExcite, init_weights
from ghostbench.models.registry import register_model

PAPER_V2 = "MobileNetV2 (Sandler et al., CVPR 2018)"
PAPER_V3 = "MobileNetV3 (Howard et al., ICCV 2019)"

# MobileNetV2 Table 2: expansion t, output channels c, repeats n, first stride s.
MOBILENETV2_CFG: list[tuple[int, int, int, int]] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]

# MobileNetV3 Tables 1 and 2, one row per block: kernel, expansion channels, output channels,
# squeeze-excite, hard-swish (else ReLU), stride.
MOBILENETV3_LARGE_CFG: list[tuple[int, int, int, bool, bool, int]] = [
    (3, 16, 16, False, False, 1),
    (3, 64, 24, False, False, 2),
    (3, 72, 24, False, False, 1),
    (5, 72, 40, True, False, 2),
    (5, 120, 40, True, False, 1),
    (5, 120, 40, True, False, 1),
    (3, 240, 80, False, True, 2),
    (3, 200, 80, False, True, 1),
    (3, 184, 80, False, True, 1),
    (3, 184, 80, False, True, 1),
    (3, 480, 112, True, True, 1),
    (3, 672, 112, True, True, 1),
    (5, 672, 160, True, True, 2),
    (5, 960, 160, True, True, 1),
    (5, 960, 160, True, True, 1),
]
MOBILENETV3_SMALL_CFG: list[tuple[int, int, int, bool, bool, int]] = [
    (3, 16, 16, True, False, 2),
    (3, 72, 24, False, False, 2),
    (3, 88, 24, False, False, 1),
    (5, 96, 40, True, True, 2),
    (5, 240, 40, True, True, 1),
    (5, 240, 40, True, True, 1),
    (5, 120, 48, True, True, 1),
    (5, 144, 48, True, True, 1),
    (5, 288, 96, True, True, 2),
    (5, 576, 96, True, True, 1),
    (5, 576, 96, True, True, 1),
]
MOBILENETV3_CFGS = {"large": (MOBILENETV3_LARGE_CFG, 1280), "small": (MOBILENETV3_SMALL_CFG, 1024)}

# MobileNetV3's SE: reduce to 1/4 rounded to a multiple of 8, ReLU, hard-sigmoid gate.
_V3_SE = partial(SqueezeExcite, se_ratio=0.25, divisor=8)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        stem_chs, last_chs = 32, 1280
        self.conv_stem = ConvBnAct(3, stem_chs, 3, 2, act_layer=nn.ReLU6)
        in_chs = stem_chs
        stages: list[nn.Module] = []
        for t, c, n, s in MOBILENETV2_CFG:
            layers = []
            for i in range(n):
                layers.append(InvertedResidual(in_chs, in_chs * t, c, 3, s if i == 0 else 1, nn.ReLU6))
                in_chs = c
            stages.append(nn.Sequential(*layers))
        self.blocks = nn.Sequential(*stages)
        self.conv_head = ConvBnAct(in_chs, last_chs, 1, act_layer=nn.ReLU6)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(last_chs, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_head(self.blocks(self.conv_stem(x)))
        return self.classifier(self.dropout(self.global_pool(x).flatten(1)))


class MobileNetV3(nn.Module):
    """Hard-swish stem, the block table, a 1x1 conv to 6x the last width, then a two-layer
    classifier on the pooled features (the "efficient last stage" of the paper)."""

    def __init__(self, variant: str = "large", num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        cfg, hidden_chs = MOBILENETV3_CFGS[variant]
        stem_chs = 16
        self.conv_stem = ConvBnAct(3, stem_chs, 3, 2, act_layer=nn.Hardswish)
        in_chs = stem_chs
        layers = []
        for k, exp, c, se, hs, s in cfg:
            act = nn.Hardswish if hs else nn.ReLU
            layers.append(InvertedResidual(in_chs, exp, c, k, s, act, _V3_SE if se else None))
            in_chs = c
        self.blocks = nn.Sequential(*layers)
        last_chs = 6 * in_chs
        self.conv_head = ConvBnAct(in_chs, last_chs, 1, act_layer=nn.Hardswish)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(last_chs, hidden_chs),
            nn.Hardswish(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden_chs, num_classes),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_head(self.blocks(self.conv_stem(x)))
        return self.classifier(self.global_pool(x).flatten(1))


@register_model("mobilenetv2_100", "mobilenet", paper=PAPER_V2)
def mobilenetv2(num_classes: int = 1000) -> MobileNetV2:
    return MobileNetV2(num_classes=num_classes)


@register_model("mobilenetv3_large_100", "mobilenet", paper=PAPER_V3, variant="large")
@register_model("mobilenetv3_small_100", "mobilenet", paper=PAPER_V3, variant="small")
def mobilenetv3(variant: str = "large", num_classes: int = 1000) -> MobileNetV3:
    return MobileNetV3(variant=variant, num_classes=num_classes)
