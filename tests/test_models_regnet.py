"""RegNetX: pycls's golden complexity, exactly, and the pycls stage rule vs the official G-Ghost table."""

import pytest
import torch

from ghostbench.models import complexity, registry
from ghostbench.models.regnet import REGNETX, RegNetParams, regnet_stages

PYCLS_GOLDEN_SRC = (
    "facebookresearch/pycls dev/model_complexity.json @ 5719de64, configs/dds_baselines/regnetx/"
)

# pycls dev/model_complexity.json, key "configs/dds_baselines/regnetx/RegNetX-<size>_dds_8gpu.yaml":
# (size, params, flops = multiply-adds, acts), all at 224 x 224.
PYCLS_GOLDEN: dict[str, tuple[str, int, int, int]] = {
    "002": ("200MF", 2_684_792, 199_040_872, 2_164_056),
    "004": ("400MF", 5_157_512, 397_678_568, 3_143_272),
    "006": ("600MF", 6_196_040, 600_891_112, 3_975_096),
    "008": ("800MF", 7_259_656, 799_700_712, 5_148_744),
    "016": ("1.6GF", 9_190_136, 1_602_850_792, 7_933_512),
    "032": ("3.2GF", 15_296_552, 3_176_622_952, 11_367_432),
    "040": ("4.0GF", 22_118_248, 3_964_499_816, 12_201_608),
    "064": ("6.4GF", 26_209_256, 6_460_292_264, 16_369_744),
    "080": ("8.0GF", 39_572_648, 7_995_133_416, 14_059_688),
    "120": ("12GF", 46_106_056, 12_086_679_016, 21_366_568),
    "160": ("16GF", 54_278_536, 15_940_756_456, 25_515_496),
    "320": ("32GF", 107_811_560, 31_735_930_792, 36_302_160),
}

G_GHOST_SRC = "huawei-noah/Efficient-AI-Backbones g_ghost_pytorch/g_ghost_regnet.py @ f90e129b"

# The official file's builders: GGhostRegNet(Bottleneck, depths, widths, group_width=...).
OFFICIAL_G_GHOST: dict[str, tuple[list[int], list[int], int]] = {
    "002": ([1, 1, 4, 7], [24, 56, 152, 368], 8),
    "004": ([1, 2, 7, 12], [32, 64, 160, 384], 16),
    "006": ([1, 3, 5, 7], [48, 96, 240, 528], 24),
    "008": ([1, 3, 7, 5], [64, 128, 288, 672], 16),
    "016": ([2, 4, 10, 2], [72, 168, 408, 912], 24),
    "032": ([2, 6, 15, 2], [96, 192, 432, 1008], 48),
    "040": ([2, 5, 14, 2], [80, 240, 560, 1360], 40),
    "064": ([2, 4, 10, 1], [168, 392, 784, 1624], 56),
    "080": ([2, 5, 15, 1], [80, 240, 720, 1920], 120),
    "120": ([2, 5, 11, 1], [224, 448, 896, 2240], 112),
    "160": ([2, 6, 13, 1], [256, 512, 896, 2048], 128),
    "320": ([2, 7, 13, 1], [336, 672, 1344, 2520], 168),
}


def test_every_regnetx_size_is_registered():
    assert registry.select("regnetx_*") == [f"regnetx_{s}" for s in PYCLS_GOLDEN]
    assert {registry.get(f"regnetx_{s}").family for s in PYCLS_GOLDEN} == {"regnet"}
    assert set(REGNETX) == set(PYCLS_GOLDEN) == set(OFFICIAL_G_GHOST)


@pytest.mark.parametrize("size", list(PYCLS_GOLDEN))
def test_complexity_equals_pycls_golden(size):
    label, params, flops, acts = PYCLS_GOLDEN[size]
    src = f"{PYCLS_GOLDEN_SRC}RegNetX-{label}_dds_8gpu.yaml"
    c = complexity.count_model(f"regnetx_{size}")
    assert c.params == params, f"params {c.params:,} != {params:,} ({src})"
    # pycls's linear_cx counts the classifier's 1,000 bias additions as flops; torch's counter does not.
    assert c.macs + 1000 == flops, f"MACs {c.macs:,} + 1,000 fc bias adds != {flops:,} ({src})"
    assert c.activations_pycls == acts, f"pycls-rule acts {c.activations_pycls:,} != {acts:,} ({src})"
    # No stem max-pool in RegNet: the paper's conv-only count is pycls's minus the 1,000 fc outputs.
    assert c.activations == acts - 1000


@pytest.mark.parametrize("size", list(OFFICIAL_G_GHOST))
def test_pycls_stage_rule_reproduces_the_official_g_ghost_table(size):
    depths, widths, group_w = OFFICIAL_G_GHOST[size]
    stages = regnet_stages(REGNETX[size])
    where = f"g_ghost_regnetx_{size} in {G_GHOST_SRC}"
    assert list(stages.depths) == depths, where
    assert list(stages.widths) == widths, where
    assert REGNETX[size].group_w == group_w, where
    # The official Bottleneck uses groups = width // min(width, group_width): the same clamp as pycls.
    assert list(stages.group_ws) == [min(w, group_w) for w in widths], where


def test_regnetx_032_stages_and_grouped_conv():
    stages = regnet_stages(REGNETX["032"])
    assert (stages.depths, stages.widths, stages.group_ws) == ((2, 6, 15, 2), (96, 192, 432, 1008), (48,) * 4)
    model = registry.get("regnetx_032").build()
    # pycls names: stage s1, block b1, transform f, grouped 3x3 "b" with 96 / 48 = 2 groups, stride 2.
    conv = model.s1.b1.f.b
    assert (conv.groups, conv.stride, tuple(conv.weight.shape)) == (2, (2, 2), (96, 48, 3, 3))
    assert model.s1.b2.proj is None and model.s1.b1.proj.stride == (2, 2)
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


def test_invalid_params_fail_loudly():
    with pytest.raises(ValueError, match="invalid RegNet"):
        regnet_stages(RegNetParams(w0=20, wa=10.0, wm=2.0, depth=10, group_w=8))  # w0 not a multiple of 8
