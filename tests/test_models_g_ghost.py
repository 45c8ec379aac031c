"""G-Ghost RegNetX: the official checkpoint layout loads with strict=True; published complexity."""

import json
from pathlib import Path

import pytest
import torch

from ghostbench.models import complexity, registry
from ghostbench.models.g_ghost import GGhostStage

LAYOUTS = Path(__file__).parent / "data" / "official_layouts"
SIZES = ["002", "004", "006", "008", "016", "032", "040", "064", "080", "120", "160", "320"]

README_SRC = "huawei-noah/Efficient-AI-Backbones g_ghost_pytorch/readme.md (Pretrained models table)"
# The released checkpoints: size -> (params in M, FLOPs = MACs in B) as the README rounds them.
README = {"032": (10.5, 1.8), "040": (15.7, 2.2), "080": (24.6, 4.2), "160": (32.4, 9.0)}


def test_every_official_configuration_is_registered():
    assert registry.select("g_ghost_*") == [f"g_ghost_regnetx_{s}" for s in SIZES]
    assert registry.families().count("g-ghost") == 1
    assert {registry.get(f"g_ghost_regnetx_{s}").family for s in SIZES} == {"g-ghost"}


@pytest.mark.parametrize("size", list(README))
def test_official_checkpoint_layout_loads_strict(size):
    """Keys and shapes dumped from the official g_ghost_regnet.py load into ours with strict=True,
    in the same order, so the released g_ghost_regnet_*.pth checkpoints do too."""
    name = f"g_ghost_regnetx_{size}"
    layout = json.loads((LAYOUTS / f"{name}.json").read_text())
    official = {
        k: torch.randn(shape) if shape else torch.tensor(0) for k, shape in layout["state_dict"].items()
    }
    model = registry.get(name).build()
    model.load_state_dict(official, strict=True)
    assert list(model.state_dict()) == list(layout["state_dict"]), (
        f"key order differs from {layout['source']}"
    )
    assert complexity.count_model(name).params == layout["params"], layout["source"]


def test_g_ghost_regnetx_032_stages():
    """Official rule: stage 1 plain; stages with more than two blocks are G-Ghost stages whose inner
    blocks use group width int(0.75 * 48) = 36 and raw = int(w * 0.5 / 36) * 36 channels."""
    model = registry.get("g_ghost_regnetx_032").build()
    assert isinstance(model.layer1, torch.nn.Sequential) and isinstance(model.layer4, torch.nn.Sequential)
    assert (model.layer2.raw_planes, model.layer3.raw_planes) == (72, 216)
    assert len(model.layer2.layers) == 6 - 2 and len(model.layer3.layers) == 15 - 2
    assert model.layer3.layers[0].conv2.groups == 216 // 36
    assert model.layer2.merge[1].in_channels == 192 + 72 * 4
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


@pytest.mark.parametrize("size", list(README))
def test_complexity_matches_the_readme(size):
    params_m, gmacs = README[size]
    c = complexity.count_model(f"g_ghost_regnetx_{size}")
    where = f"g_ghost_regnetx_{size} vs {README_SRC}"
    assert abs(c.params / 1e6 - params_m) <= 0.05, f"params {c.params:,} vs {params_m}M: {where}"
    # 8.0GF is 4.15B by our count vs the README's 4.2B (-1.2%); the others round to the README figure.
    assert abs(c.macs / 1e9 - gmacs) / gmacs <= 0.015, f"MACs {c.macs:,} vs {gmacs}B: {where}"


def test_g_ghost_stage_needs_three_blocks():
    with pytest.raises(ValueError, match="at least 3 blocks"):
        GGhostStage(96, 192, depth=2, group_w=48)
