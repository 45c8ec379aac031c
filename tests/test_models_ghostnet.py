import json
from pathlib import Path

import torch

from ghostbench.models import complexity, registry

LAYOUT = Path(__file__).parent / "data" / "official_layouts" / "ghostnet_100.json"


def test_official_checkpoint_layout_loads_strict():
    """The official state_dict layout (keys and shapes, dumped from huawei-noah's ghostnet.py)
    loads into ours with strict=True, so state_dict_73.98.pth does too."""
    layout = json.loads(LAYOUT.read_text())
    official = {
        k: torch.randn(shape) if shape else torch.tensor(0) for k, shape in layout["state_dict"].items()
    }
    model = registry.get("ghostnet_100").build()
    model.load_state_dict(official, strict=True)
    assert list(model.state_dict()) == list(layout["state_dict"]), "key order differs from the official code"
    assert complexity.count_model("ghostnet_100").params == layout["params"]


def test_widths_follow_make_divisible_by_4():
    model = registry.get("ghostnet_050").build()
    assert model.conv_stem.out_channels == 8
    assert model.classifier.in_features == 1280
