"""ShuffleNetV1 (Zhang et al., CVPR 2018) and ShuffleNetV2 (Ma et al., ECCV 2018).

- V1 g=3 1.0x: names, shapes and the channel permutation of megvii-model/ShuffleNet-Series
  ``ShuffleNetV1/{network,blocks}.py`` (the authors' re-implementation, 1.9M params, 138M MACs), so
  its checkpoint loads with ``strict=True`` and computes the same function.
- V2 1.0x: names and shapes of torchvision's ``shufflenetv2.py`` (2,278,604 params; the megvii
  V2 differs only by a bias-free classifier and its split/shuffle order).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ghostbench.models.blocks import channel_shuffle, init_weights
from ghostbench.models.registry import register_model

PAPER_V1 = "ShuffleNet (Zhang et al., CVPR 2018)"
PAPER_V2 = "ShuffleNet V2 (Ma et al., ECCV 2018)"

# Per stage: output channels, repeats (first block of each stage has stride 2).
# V1: paper Table 1, g=3, 1.0x. V2: paper Table 5, 1.0x (conv5, the 1x1 before pooling, is separate).
SHUFFLENETV1_G3_CFG: list[tuple[int, int]] = [(240, 4), (480, 8), (960, 4)]
SHUFFLENETV1_GROUPS = 3
SHUFFLENETV2_CFG: list[tuple[int, int]] = [(116, 4), (232, 8), (464, 4)]
STEM_CHS = 24
SHUFFLENETV2_LAST_CHS = 1024


class ShuffleV1Block(nn.Module):
    """Grouped 1x1 -> shuffle -> depthwise 3x3 -> grouped 1x1, added to the input; a stride-2
    block instead concatenates a 3x3 average-pooled shortcut (so its main branch only makes
    ``oup - inp`` channels)."""

    def __init__(self, inp: int, oup: int, groups: int, stride: int, first_group: bool) -> None:
        super().__init__()
        self.stride = stride
        mid = oup // 4
        self.shuffle_groups = mid // groups
        outputs = oup - inp if stride == 2 else oup
        # The paper leaves the network's first 1x1 ungrouped: 24 input channels are too few.
        self.branch_main_1 = nn.Sequential(
            nn.Conv2d(inp, mid, 1, 1, 0, groups=1 if first_group else groups, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
            nn.BatchNorm2d(mid),
        )
        self.branch_main_2 = nn.Sequential(
            nn.Conv2d(mid, outputs, 1, 1, 0, groups=groups, bias=False),
            nn.BatchNorm2d(outputs),
        )
        if stride == 2:
            self.branch_proj = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # megvii splits channels as (mid / g, g) before transposing, i.e. the standard shuffle
        # with mid / g groups; the same permutation keeps its checkpoint's function.
        out = self.branch_main_2(channel_shuffle(self.branch_main_1(x), self.shuffle_groups))
        if self.stride == 2:
            return torch.cat((self.branch_proj(x), F.relu(out)), 1)
        return F.relu(out + x)


class ShuffleNetV1(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.first_conv = nn.Sequential(
            nn.Conv2d(3, STEM_CHS, 3, 2, 1, bias=False),
            nn.BatchNorm2d(STEM_CHS),
            nn.ReLU(inplace=True),
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_chs = STEM_CHS
        layers = []
        for stage, (out_chs, repeats) in enumerate(SHUFFLENETV1_G3_CFG):
            for i in range(repeats):
                first_group = stage == 0 and i == 0
                stride = 2 if i == 0 else 1
                layers.append(ShuffleV1Block(in_chs, out_chs, SHUFFLENETV1_GROUPS, stride, first_group))
                in_chs = out_chs
        self.features = nn.Sequential(*layers)
        self.globalpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(in_chs, num_classes, bias=False))
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.maxpool(self.first_conv(x)))
        return self.classifier(self.globalpool(x).flatten(1))


class ShuffleV2Block(nn.Module):
    """Stride 1: split channels in half, transform one half, concatenate, shuffle (2 groups).
    Stride 2: both halves come from the full input (the left one through a depthwise shortcut)."""

    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        branch = oup // 2
        if stride == 2:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch, 1, 1, 0, bias=False),
                nn.BatchNorm2d(branch),
                nn.ReLU(inplace=True),
            )
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride == 2 else branch, branch, 1, 1, 0, bias=False),
            nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
            nn.Conv2d(branch, branch, 3, stride, 1, groups=branch, bias=False),
            nn.BatchNorm2d(branch),
            nn.Conv2d(branch, branch, 1, 1, 0, bias=False),
            nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            out = torch.cat((self.branch1(x), self.branch2(x)), 1)
        else:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), 1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, STEM_CHS, 3, 2, 1, bias=False),
            nn.BatchNorm2d(STEM_CHS),
            nn.ReLU(inplace=True),
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_chs = STEM_CHS
        stages = []
        for out_chs, repeats in SHUFFLENETV2_CFG:
            blocks = [ShuffleV2Block(in_chs, out_chs, 2)]
            blocks += [ShuffleV2Block(out_chs, out_chs, 1) for _ in range(repeats - 1)]
            stages.append(nn.Sequential(*blocks))
            in_chs = out_chs
        # torchvision's (and the paper's Table 5) stage names, kept for its checkpoints.
        self.stage2, self.stage3, self.stage4 = stages
        self.conv5 = nn.Sequential(
            nn.Conv2d(in_chs, SHUFFLENETV2_LAST_CHS, 1, 1, 0, bias=False),
            nn.BatchNorm2d(SHUFFLENETV2_LAST_CHS),
            nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(SHUFFLENETV2_LAST_CHS, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.stage4(self.stage3(self.stage2(x)))
        return self.fc(self.conv5(x).mean((2, 3)))


@register_model("shufflenetv1_g3_100", "shufflenet", paper=PAPER_V1)
def shufflenetv1_g3(num_classes: int = 1000) -> ShuffleNetV1:
    return ShuffleNetV1(num_classes=num_classes)


@register_model("shufflenetv2_100", "shufflenet", paper=PAPER_V2)
def shufflenetv2(num_classes: int = 1000) -> ShuffleNetV2:
    return ShuffleNetV2(num_classes=num_classes)
