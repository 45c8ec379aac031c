"""GhostNetV2 (Tang et al., "GhostNetV2: Enhance Cheap Operation with Long-Range Attention",
NeurIPS 2022): GhostNet whose expansion Ghost module is gated by DFC attention.

Layer names and shapes match huawei-noah/Efficient-AI-Backbones
``ghostnetv2_pytorch/model/ghostnetv2_torch.py``, so its ``ck_ghostnetv2_{10,13,16}.pth.tar``
state dicts load with ``strict=True``. As in that code, the first two bottlenecks keep the plain
Ghost module and every later bottleneck gets DFC attention on its expansion (``ghost1``) only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ghostbench.models.blocks import GhostBottleneck, GhostModule
from ghostbench.models.ghostnet import GhostNet
from ghostbench.models.registry import register_model

PAPER = "GhostNetV2 (Tang et al., NeurIPS 2022)"

# Bottlenecks with index < this keep the V1 Ghost module (official code: ``layer_id <= 1``).
FIRST_DFC_LAYER = 2
# DFC attention's decoupled fully-connected layers: depthwise 1xK then Kx1 convs (paper and code).
DFC_KERNEL = 5


class DFCGhostModule(GhostModule):
    """Ghost module whose output is gated by DFC attention (official ``GhostModuleV2``, mode "attn").

    ``short_conv`` runs on the input pooled 2x (cheaper, and the long-range gate needs no full
    resolution): 1x1 conv, then horizontal and vertical depthwise "fully connected" convs, each
    followed by BN. Its sigmoid is upsampled (nearest, as the official code) to the output size.
    """

    def __init__(self, inp: int, oup: int, kernel_size: int = 1, stride: int = 1, relu: bool = True) -> None:
        super().__init__(inp, oup, kernel_size=kernel_size, stride=stride, relu=relu)
        pad = DFC_KERNEL // 2
        self.short_conv = nn.Sequential(
            nn.Conv2d(inp, oup, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(oup),
            nn.Conv2d(oup, oup, (1, DFC_KERNEL), 1, (0, pad), groups=oup, bias=False),
            nn.BatchNorm2d(oup),
            nn.Conv2d(oup, oup, (DFC_KERNEL, 1), 1, (pad, 0), groups=oup, bias=False),
            nn.BatchNorm2d(oup),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.short_conv(F.avg_pool2d(x, kernel_size=2, stride=2)))
        out = super().forward(x)
        # The size comes from static shapes (7x7 pools to 3x3, so no fixed scale factor fits):
        # exporters see constant ints, not a data-dependent value.
        return out * F.interpolate(gate, size=out.shape[-2:], mode="nearest")


class GhostBottleneckV2(GhostBottleneck):
    """GhostNet's bottleneck with, when ``dfc`` is set, DFC attention on the expansion module."""

    def __init__(
        self,
        in_chs: int,
        mid_chs: int,
        out_chs: int,
        dw_kernel_size: int = 3,
        stride: int = 1,
        se_ratio: float = 0.0,
        dfc: bool = True,
    ) -> None:
        super().__init__(in_chs, mid_chs, out_chs, dw_kernel_size, stride, se_ratio)
        if dfc:
            # Same attribute, so the state_dict key stays ``ghost1.*`` as in the official code.
            self.ghost1 = DFCGhostModule(in_chs, mid_chs, relu=True)


class GhostNetV2(GhostNet):
    """GhostNet's stem, stage table (``GHOST_CFG``) and head with V2 bottlenecks."""

    def make_block(
        self, index: int, in_chs: int, mid_chs: int, out_chs: int, kernel: int, stride: int, se_ratio: float
    ) -> nn.Module:
        dfc = index >= FIRST_DFC_LAYER
        return GhostBottleneckV2(in_chs, mid_chs, out_chs, kernel, stride, se_ratio=se_ratio, dfc=dfc)


@register_model("ghostnetv2_100", "ghostnetv2", paper=PAPER, width=1.0)
@register_model("ghostnetv2_130", "ghostnetv2", paper=PAPER, width=1.3)
@register_model("ghostnetv2_160", "ghostnetv2", paper=PAPER, width=1.6)
def ghostnetv2(width: float = 1.0, num_classes: int = 1000) -> GhostNetV2:
    return GhostNetV2(width=width, num_classes=num_classes)
