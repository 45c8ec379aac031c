"""Shared building blocks. Names of submodules follow huawei-noah's official GhostNet code
(``ghostnet_pytorch/ghostnet.py``) so that official checkpoints load with ``strict=True``."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to a multiple of ``divisor`` without dropping more than 10% (MobileNet rule)."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """relu6(x + 3) / 6, the gate of GhostNet's squeeze-excite (out of place: exportable)."""
    return F.relu6(x + 3.0) / 6.0


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: global pool, 1x1 reduce, activation, 1x1 expand, gate."""

    def __init__(
        self,
        in_chs: int,
        se_ratio: float = 0.25,
        reduced_base_chs: int | None = None,
        act_layer: type[nn.Module] = nn.ReLU,
        gate_fn=hard_sigmoid,
        divisor: int = 4,
    ) -> None:
        super().__init__()
        self.gate_fn = gate_fn
        reduced_chs = make_divisible((reduced_base_chs or in_chs) * se_ratio, divisor)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_reduce = nn.Conv2d(in_chs, reduced_chs, 1, bias=True)
        self.act1 = act_layer(inplace=True)
        self.conv_expand = nn.Conv2d(reduced_chs, in_chs, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.conv_expand(self.act1(self.conv_reduce(self.avg_pool(x))))
        return x * self.gate_fn(scale)


class ConvBnAct(nn.Module):
    """Conv (same padding, no bias) + BatchNorm + activation."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int,
        stride: int = 1,
        act_layer: type[nn.Module] | None = nn.ReLU,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_chs, out_chs, kernel_size, stride, kernel_size // 2, groups=groups, bias=False
        )
        self.bn1 = nn.BatchNorm2d(out_chs)
        self.act1 = act_layer(inplace=True) if act_layer is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act1(self.bn1(self.conv(x)))


class GhostModule(nn.Module):
    """Ghost module (Han et al. 2020): a primary conv makes ``oup / ratio`` intrinsic maps and a
    cheap depthwise conv derives the rest ("ghost" maps) from them."""

    def __init__(
        self,
        inp: int,
        oup: int,
        kernel_size: int = 1,
        ratio: int = 2,
        dw_size: int = 3,
        stride: int = 1,
        relu: bool = True,
    ) -> None:
        super().__init__()
        self.oup = oup
        init_channels = math.ceil(oup / ratio)
        new_channels = init_channels * (ratio - 1)
        self.primary_conv = nn.Sequential(
            nn.Conv2d(inp, init_channels, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(init_channels),
            nn.ReLU(inplace=True) if relu else nn.Identity(),
        )
        self.cheap_operation = nn.Sequential(
            nn.Conv2d(
                init_channels, new_channels, dw_size, 1, dw_size // 2, groups=init_channels, bias=False
            ),
            nn.BatchNorm2d(new_channels),
            nn.ReLU(inplace=True) if relu else nn.Identity(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.primary_conv(x)
        x2 = self.cheap_operation(x1)
        return torch.cat([x1, x2], dim=1)[:, : self.oup]


class GhostBottleneck(nn.Module):
    """GhostNet's bottleneck: Ghost module (expand), optional stride-2 depthwise conv and SE,
    Ghost module (project, linear), plus an identity or depthwise+pointwise shortcut."""

    def __init__(
        self,
        in_chs: int,
        mid_chs: int,
        out_chs: int,
        dw_kernel_size: int = 3,
        stride: int = 1,
        se_ratio: float = 0.0,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.ghost1 = GhostModule(in_chs, mid_chs, relu=True)
        if stride > 1:
            pad = (dw_kernel_size - 1) // 2
            self.conv_dw = nn.Conv2d(
                mid_chs, mid_chs, dw_kernel_size, stride, pad, groups=mid_chs, bias=False
            )
            self.bn_dw = nn.BatchNorm2d(mid_chs)
        self.se = SqueezeExcite(mid_chs, se_ratio=se_ratio) if se_ratio else None
        self.ghost2 = GhostModule(mid_chs, out_chs, relu=False)
        if in_chs == out_chs and stride == 1:
            self.shortcut = nn.Sequential()
        else:
            pad = (dw_kernel_size - 1) // 2
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_chs, in_chs, dw_kernel_size, stride, pad, groups=in_chs, bias=False),
                nn.BatchNorm2d(in_chs),
                nn.Conv2d(in_chs, out_chs, 1, 1, 0, bias=False),
                nn.BatchNorm2d(out_chs),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        x = self.ghost1(x)
        if self.stride > 1:
            x = self.bn_dw(self.conv_dw(x))
        if self.se is not None:
            x = self.se(x)
        x = self.ghost2(x)
        return x + self.shortcut(residual)


class ResBottleneck(nn.Module):
    """torchvision's ResNet/ResNeXt bottleneck: 1x1, 3x3 (stride, groups), 1x1, each with BN; ReLU
    after the residual add; a strided 1x1 conv + BN projection when the shape changes.

    Shared by ResNet-50 (``mid = out / 4``) and G-Ghost RegNetX (``mid = out``, grouped 3x3); the
    names (``conv1``, ``bn1``, …, ``downsample.0/1``) are torchvision's, which the official G-Ghost
    code also uses, so both families load their checkpoints with ``strict=True``."""

    def __init__(self, in_chs: int, mid_chs: int, out_chs: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chs, mid_chs, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_chs)
        self.conv2 = nn.Conv2d(mid_chs, mid_chs, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_chs)
        self.conv3 = nn.Conv2d(mid_chs, out_chs, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_chs)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_chs != out_chs:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_chs, out_chs, 1, stride, bias=False),
                nn.BatchNorm2d(out_chs),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        return self.relu(x + shortcut)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: (N, g*c, H, W) -> transpose groups -> (N, c*g, H, W)."""
    n, c, h, w = x.shape
    x = x.reshape(n, groups, c // groups, h, w).transpose(1, 2)
    return x.reshape(n, c, h, w)


class InvertedResidual(nn.Module):
    """MobileNetV2/V3 and EfficientNet (MBConv) block: 1x1 expansion (skipped when ``mid_chs`` equals
    ``in_chs``), depthwise conv, optional squeeze-excite, linear 1x1 projection, identity shortcut
    when the shape is kept. ``se_layer(mid_chs)`` builds the SE, so each family sets its own rule."""

    def __init__(
        self,
        in_chs: int,
        mid_chs: int,
        out_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        act_layer: type[nn.Module] = nn.ReLU,
        se_layer: Callable[[int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.has_residual = stride == 1 and in_chs == out_chs
        expand = mid_chs != in_chs
        self.conv_pw = ConvBnAct(in_chs, mid_chs, 1, act_layer=act_layer) if expand else nn.Identity()
        self.conv_dw = ConvBnAct(mid_chs, mid_chs, kernel_size, stride, act_layer=act_layer, groups=mid_chs)
        self.se = se_layer(mid_chs) if se_layer is not None else nn.Identity()
        self.conv_pwl = ConvBnAct(mid_chs, out_chs, 1, act_layer=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_pwl(self.se(self.conv_dw(self.conv_pw(x))))
        return out + x if self.has_residual else out


def init_weights(model: nn.Module) -> nn.Module:
    """Deterministic (given the RNG seed) weights for every family: He-normal convs with fan-out
    divided by groups (as timm's EfficientNet init), small linear layers, identity BatchNorm.

    Counting fan-out per group keeps depthwise-heavy nets (MobileNet, EfficientNet) from shrinking
    their activations ~10x per stage, which would make parity checks and fp16/int8 exports of
    random-weight models meaningless. Random weights are all a latency benchmark needs.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def calibrate_batchnorm(model: nn.Module, input_size: int, batch: int = 2) -> nn.Module:
    """Set every BatchNorm's running statistics from one fixed-seed random batch, then eval().

    With identity BN statistics, random-weight nets grow (residual sums) or shrink (SE gates)
    their activations by orders of magnitude per stage: GhostNet's logits reach 1e6, past fp16's
    range. Calibrated statistics keep every layer near unit scale, as in a trained network, so
    fp16/int8 exports and parity checks mean what they would for real weights. A BN that sees
    globally pooled (1x1) maps keeps identity statistics: pooled random noise has almost no
    variance across images, and dividing by it would blow the branch up instead.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model.eval()
    pooled: set[nn.Module] = set()

    def note_pooled(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        if inputs[0].dim() == 4 and inputs[0].shape[2] * inputs[0].shape[3] == 1:
            pooled.add(module)

    momenta = [bn.momentum for bn in norms]
    handles = [bn.register_forward_pre_hook(note_pooled) for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batch
    model.train()
    try:
        with torch.no_grad():
            model(torch.randn(batch, 3, input_size, input_size))
    finally:
        for handle in handles:
            handle.remove()
    for bn, momentum in zip(norms, momenta, strict=True):
        bn.momentum = momentum
        if bn in pooled:
            bn.reset_running_stats()
    return model.eval()


def conv_bn_pairs(model: nn.Module, input_size: int = 64) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """(conv, BN) pairs where the BN reads the conv's output untouched, found by one forward pass
    (tensor identity, and an unchanged version counter to rule out in-place ops in between), so
    every block is covered without per-block code. A pair is only foldable if nothing else reads
    the raw conv output; no block in the zoo does that, and the tests compare fused with unfused."""
    produced: dict[int, tuple[torch.Tensor, int, nn.Conv2d]] = {}
    pairs: list[tuple[nn.Conv2d, nn.BatchNorm2d]] = []

    def after_conv(module: nn.Module, _inputs, output: torch.Tensor) -> None:
        produced[id(output)] = (output, output._version, module)

    def before_bn(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        hit = produced.get(id(inputs[0]))
        if hit is not None and hit[0] is inputs[0] and hit[1] == inputs[0]._version:
            pairs.append((hit[2], module))

    modules = list(model.modules())
    handles = [m.register_forward_hook(after_conv) for m in modules if isinstance(m, nn.Conv2d)]
    handles += [m.register_forward_pre_hook(before_bn) for m in modules if isinstance(m, nn.BatchNorm2d)]
    param = next(model.parameters())
    training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, input_size, input_size, dtype=param.dtype, device=param.device))
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()
    return pairs


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """Fold each BN into the conv before it (``torch.nn.utils.fusion.fuse_conv_bn_weights``) and
    replace the BN by ``nn.Identity``: what inference runs, and what the YOLOv8 reference table
    counts (a conv gains ``out`` biases, its BN loses ``2 x out`` affine parameters)."""
    from torch.nn.utils.fusion import fuse_conv_bn_weights

    names = {module: name for name, module in model.named_modules()}
    for conv_layer, bn in conv_bn_pairs(model):
        conv_layer.weight, conv_layer.bias = fuse_conv_bn_weights(
            conv_layer.weight, conv_layer.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
        )
        model.set_submodule(names[bn], nn.Identity())
    return model
