"""EfficientNet-B0 (Tan & Le, "EfficientNet: Rethinking Model Scaling for CNNs", ICML 2019).

MBConv is ``blocks.InvertedResidual`` with SiLU and an SE whose width is 1/4 of the block's
*input* channels (not of the expanded ones, unlike MobileNetV3). Layers and widths follow
torchvision's ``efficientnet.py`` (5,288,548 parameters); submodule names are ours. Stochastic
depth is left out: it is the identity at inference, which is all a latency benchmark runs.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from ghostbench.models.blocks import ConvBnAct, InvertedResidual, SqueezeExcite, init_weights
from ghostbench.models.registry import register_model

PAPER = "EfficientNet (Tan & Le, ICML 2019)"

# EfficientNet Table 1 (B0): expansion, kernel, first stride, output channels, repeats.
EFFICIENTNET_B0_CFG: list[tuple[int, int, int, int, int]] = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
]


class EfficientNet(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        stem_chs, last_chs = 32, 1280
        self.conv_stem = ConvBnAct(3, stem_chs, 3, 2, act_layer=nn.SiLU)
        in_chs = stem_chs
        stages: list[nn.Module] = []
        for t, k, s, c, n in EFFICIENTNET_B0_CFG:
            layers = []
            for i in range(n):
                se = partial(
                    SqueezeExcite,
                    reduced_base_chs=in_chs,
                    act_layer=nn.SiLU,
                    gate_fn=torch.sigmoid,
                    divisor=1,
                )
                layers.append(InvertedResidual(in_chs, in_chs * t, c, k, s if i == 0 else 1, nn.SiLU, se))
                in_chs = c
            stages.append(nn.Sequential(*layers))
        self.blocks = nn.Sequential(*stages)
        self.conv_head = ConvBnAct(in_chs, last_chs, 1, act_layer=nn.SiLU)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(last_chs, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_head(self.blocks(self.conv_stem(x)))
        return self.classifier(self.dropout(self.global_pool(x).flatten(1)))


@register_model("efficientnet_b0", "efficientnet", paper=PAPER)
def efficientnet_b0(num_classes: int = 1000) -> EfficientNet:
    return EfficientNet(num_classes=num_classes)
