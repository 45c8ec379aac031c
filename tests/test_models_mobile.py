"""MobileNetV2/V3, ShuffleNetV1/V2 and EfficientNet-B0 against their reference counts.

Parameters are exact where a reference implementation defines the model (torchvision weights
metadata, or the official code built and counted); MACs are within 3% of the published figure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import torch

from ghostbench.models import complexity, registry
from ghostbench.models.complexity import Complexity

LAYOUTS = Path(__file__).parent / "data" / "official_layouts"
MACS_TOLERANCE = 0.03


@dataclass(frozen=True)
class Reference:
    family: str
    params: int
    params_source: str
    macs_m: float
    macs_source: str


def _tv(builder: str, weights: str) -> str:
    return f"torchvision docs: {builder}, {weights}.IMAGENET1K_V1 (num_params / _ops)"


REFERENCES = {
    "mobilenetv2_100": Reference(
        "mobilenet",
        3_504_872,
        _tv("mobilenet_v2", "MobileNet_V2_Weights"),
        300,
        "tensorflow/models research/slim/nets/mobilenet/README.md (mobilenet_v2_1.0_224)",
    ),
    "mobilenetv3_large_100": Reference(
        "mobilenet",
        5_483_032,
        _tv("mobilenet_v3_large", "MobileNet_V3_Large_Weights"),
        217,
        "tensorflow/models research/slim/nets/mobilenet/README.md (Large 1.0 float)",
    ),
    "mobilenetv3_small_100": Reference(
        "mobilenet",
        2_542_856,
        _tv("mobilenet_v3_small", "MobileNet_V3_Small_Weights"),
        57,
        _tv("mobilenet_v3_small", "MobileNet_V3_Small_Weights"),
    ),
    "shufflenetv1_g3_100": Reference(
        "shufflenet",
        1_864_728,
        "megvii-model/ShuffleNet-Series ShuffleNetV1/network.py, ShuffleNetV1('1.0x', group=3), counted",
        138,
        "megvii-model/ShuffleNet-Series ShuffleNetV1/README.md (Results, 1.0x g=3)",
    ),
    "shufflenetv2_100": Reference(
        "shufflenet",
        2_278_604,
        _tv("shufflenet_v2_x1_0", "ShuffleNet_V2_X1_0_Weights"),
        146,
        "megvii-model/ShuffleNet-Series ShuffleNetV2/README.md (Results, 1.0x)",
    ),
    "efficientnet_b0": Reference(
        "efficientnet",
        5_288_548,
        _tv("efficientnet_b0", "EfficientNet_B0_Weights"),
        385.8,
        "facebookresearch/pycls MODEL_ZOO.md (EfficientNet table, EN-B0)",
    ),
}

# Rounded published parameter counts (millions) where the exact count comes from code: the
# rounded figure must still agree to its last digit.
ROUNDED_PARAMS_M = {
    "shufflenetv1_g3_100": (1.9, "megvii-model/ShuffleNet-Series ShuffleNetV1/README.md (1.0x g=3: 1.9M)"),
    "shufflenetv2_100": (2.3, "megvii-model/ShuffleNet-Series ShuffleNetV2/README.md (1.0x: 2.3M)"),
}

# pycls dev/model_complexity.json, EN-B0_dds_8gpu.yaml: exact activations under pycls's rule.
PYCLS_EN_B0_ACTS = 6_748_036


@cache
def counted(name: str) -> Complexity:
    return complexity.count(registry.get(name).build())


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_registered_with_family(name: str) -> None:
    assert registry.get(name).family == REFERENCES[name].family


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_params_exact(name: str) -> None:
    ref = REFERENCES[name]
    assert counted(name).params == ref.params, f"{name}: {counted(name).params:,} vs {ref.params_source}"


@pytest.mark.parametrize("name", sorted(ROUNDED_PARAMS_M))
def test_params_match_rounded_published(name: str) -> None:
    params_m, source = ROUNDED_PARAMS_M[name]
    assert round(counted(name).params / 1e6, 1) == params_m, f"{name}: vs {params_m}M ({source})"


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_macs_near_published(name: str) -> None:
    ref = REFERENCES[name]
    ours_m = counted(name).macs / 1e6
    assert abs(ours_m / ref.macs_m - 1) <= MACS_TOLERANCE, (
        f"{name}: {ours_m:.1f}M MACs vs {ref.macs_m}M ({ref.macs_source})"
    )


def test_efficientnet_b0_activations_equal_pycls() -> None:
    acts = counted("efficientnet_b0").activations_pycls
    assert acts == PYCLS_EN_B0_ACTS, "facebookresearch/pycls dev/model_complexity.json (EN-B0 acts)"


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_output_shape(name: str) -> None:
    model = registry.get(name).build()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


def test_shufflenetv1_official_layout_loads_strict() -> None:
    official = json.loads((LAYOUTS / "shufflenetv1_g3_100.json").read_text())
    model = registry.get("shufflenetv1_g3_100").build()
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == official["state_dict"], f"state_dict differs from {official['source']}"
    model.load_state_dict({k: torch.zeros(s) for k, s in official["state_dict"].items()}, strict=True)
    assert official["params"] == REFERENCES["shufflenetv1_g3_100"].params
