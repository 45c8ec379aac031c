"""ResNet-50 (torchvision layout, pycls's golden complexity) and Ghost-ResNet-50 (GhostNet Table 6)."""

import pytest
import torch
from torch import nn

from ghostbench.models import complexity, registry
from ghostbench.models.blocks import GhostModule

PYCLS_SRC = (
    "facebookresearch/pycls dev/model_complexity.json, configs/dds_baselines/resnet/R-50-1x64d_dds_8gpu.yaml"
)
TV_SRC = "torchvision docs: resnet50, ResNet50_Weights.IMAGENET1K_V1 (num_params, GFLOPS 4.089)"
TABLE6_SRC = "GhostNet (Han et al., CVPR 2020) Table 6, Ghost-ResNet-50 (s=2): 13.0M params, 2.2B FLOPs"
OFFICIAL_SRC = (
    "huawei-noah/Efficient-AI-Backbones ghostnet_pytorch/ghost_resnet.py @ f90e129b, resnet50(s=2, d=3)"
)


def test_resnet50_equals_pycls_and_torchvision():
    c = complexity.count_model("resnet50")
    assert c.params == 25_557_032, f"params {c.params:,} ({PYCLS_SRC}; {TV_SRC})"
    # pycls's 4,089,185,256 flops count the classifier's 1,000 bias additions; torch's counter does not.
    assert c.macs + 1000 == 4_089_185_256, f"MACs {c.macs:,} ({PYCLS_SRC})"
    assert abs(c.macs / 1e9 - 4.089) < 0.0005, f"MACs {c.macs:,} ({TV_SRC})"
    # pycls's acts include the stem max-pool's and the classifier's outputs.
    assert c.activations_pycls == 11_315_688, f"acts {c.activations_pycls:,} ({PYCLS_SRC})"


def test_resnet50_has_torchvision_layout():
    model = registry.get("resnet50").build()
    sd = model.state_dict()
    assert len(sd) == 320
    assert sd["layer1.0.downsample.0.weight"].shape == (256, 64, 1, 1)
    assert sd["fc.weight"].shape == (1000, 2048)
    # "v1.5": the stride sits on the 3x3 conv, not on the first 1x1.
    assert model.layer2[0].conv1.stride == (1, 1) and model.layer2[0].conv2.stride == (2, 2)
    assert registry.get("resnet50").family == "resnet"


def test_ghost_resnet50_replaces_every_bottleneck_conv():
    model = registry.get("ghost_resnet50").build()
    assert registry.get("ghost_resnet50").family == "ghost-resnet"
    ghosts = [n for n, m in model.named_modules() if isinstance(m, GhostModule)]
    plain = [
        n
        for n, m in model.named_modules()
        if isinstance(m, nn.Conv2d) and not any(n.startswith(g + ".") for g in ghosts)
    ]
    assert plain == ["conv1"], "only the 7x7 stem conv stays a plain conv"
    assert len(ghosts) == 16 * 3 + 4, "conv1-3 of 16 bottlenecks and 4 projection shortcuts"
    block = model.layer2[0]
    assert [type(m) for m in (block.conv1, block.conv2, block.conv3, block.downsample[0])] == [
        GhostModule
    ] * 4
    assert block.conv2.primary_conv[0].stride == (2, 2) and block.downsample[0].primary_conv[0].stride == (
        2,
        2,
    )
    assert isinstance(model.fc, nn.Linear)
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


def test_ghost_resnet50_complexity_vs_table6():
    c = complexity.count_model("ghost_resnet50")
    assert (c.params, c.macs) == (13_953_512, 2_151_023_360)
    assert abs(c.macs / 2.2e9 - 1) <= 0.03, f"MACs {c.macs:,} vs 2.2B: {TABLE6_SRC}"
    # Known gap, documented in resnet.py: Table 6's 13.0M fits only with the classifier compressed
    # too. The official code's forward path has 13,927,016 params: its Ghost modules carry one conv
    # bias per channel where ours carry two BN parameters per channel.
    model = registry.get("ghost_resnet50").build()
    ghost_bn = [m for g in model.modules() if isinstance(g, GhostModule) for m in g.modules()]
    channels = sum(m.num_features for m in ghost_bn if isinstance(m, nn.BatchNorm2d))
    assert c.params - channels == 13_927_016, f"params {c.params:,} - {channels:,} channels ({OFFICIAL_SRC})"
    assert c.params / 13.0e6 - 1 == pytest.approx(0.0733, abs=0.0005), f"params {c.params:,}: {TABLE6_SRC}"
