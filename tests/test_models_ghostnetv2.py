"""GhostNetV2: official checkpoint layout, parameter and MAC counts, DFC attention shapes."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
import torch

from ghostbench.models import complexity, registry
from ghostbench.models.complexity import Complexity
from ghostbench.models.ghostnetv2 import DFCGhostModule

LAYOUT = Path(__file__).parent / "data" / "official_layouts" / "ghostnetv2_100.json"
OFFICIAL_CODE = "huawei-noah/Efficient-AI-Backbones ghostnetv2_pytorch/model/ghostnetv2_torch.py"

# Exact parameter counts of the official code's ghostnetv2(width=w), counted by building it from
# that file at commit f90e129 (the 1.0x figure is also in the layout JSON).
OFFICIAL_PARAMS = {"ghostnetv2_100": 6_156_908, "ghostnetv2_130": 8_960_404, "ghostnetv2_160": 12_392_698}

# Published MACs (millions), source, tolerance 3%.
PUBLISHED_MACS_M = {
    "ghostnetv2_100": (167.0, "GhostNetV2 (Tang et al., NeurIPS 2022) abstract: 75.3% with 167M FLOPs"),
    "ghostnetv2_130": (271.1, "leondgarse/keras_cv_attention_models ghostnet/README.md, by its own count"),
    "ghostnetv2_160": (400.9, "leondgarse/keras_cv_attention_models ghostnet/README.md, by its own count"),
}
MACS_TOLERANCE = 0.03


@cache
def counted(name: str) -> Complexity:
    return complexity.count(registry.get(name).build())


def test_registered_family() -> None:
    assert registry.select("ghostnetv2_*") == ["ghostnetv2_100", "ghostnetv2_130", "ghostnetv2_160"]
    assert {registry.get(n).family for n in registry.select("ghostnetv2_*")} == {"ghostnetv2"}


def test_official_checkpoint_layout_loads_strict() -> None:
    official = json.loads(LAYOUT.read_text())
    model = registry.get("ghostnetv2_100").build()
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(official["state_dict"]) - set(ours))
    unexpected = sorted(set(ours) - set(official["state_dict"]))
    source = official["source"]
    assert not missing and not unexpected, f"vs {source}: missing {missing}, unexpected {unexpected}"
    wrong = {k: (v, ours[k]) for k, v in official["state_dict"].items() if ours[k] != v}
    assert not wrong, f"shapes differ from {source} (official, ours): {wrong}"
    state = {k: torch.zeros(shape) for k, shape in official["state_dict"].items()}
    model.load_state_dict(state, strict=True)


@pytest.mark.parametrize("name", sorted(OFFICIAL_PARAMS))
def test_params_equal_official_code(name: str) -> None:
    assert counted(name).params == OFFICIAL_PARAMS[name], f"{name}: {OFFICIAL_CODE} at f90e129"


def test_layout_file_params_agree() -> None:
    assert json.loads(LAYOUT.read_text())["params"] == OFFICIAL_PARAMS["ghostnetv2_100"]


@pytest.mark.parametrize("name", sorted(PUBLISHED_MACS_M))
def test_macs_near_published(name: str) -> None:
    macs_m, source = PUBLISHED_MACS_M[name]
    ours_m = counted(name).macs / 1e6
    assert abs(ours_m / macs_m - 1) <= MACS_TOLERANCE, f"{name}: {ours_m:.1f}M MACs vs {macs_m}M ({source})"


def test_output_shape_and_deterministic_build() -> None:
    spec = registry.get("ghostnetv2_100")
    a, b = spec.build(seed=3), spec.build(seed=3)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        ya, yb = a(x), b(x)
    assert ya.shape == (1, 1000)
    assert torch.equal(ya, yb)


def test_dfc_only_after_first_two_bottlenecks() -> None:
    model = registry.get("ghostnetv2_100").build()
    bottlenecks = [m for stage in list(model.blocks)[:-1] for m in stage]
    assert [isinstance(b.ghost1, DFCGhostModule) for b in bottlenecks] == [False, False] + [True] * 14
    assert not any(isinstance(b.ghost2, DFCGhostModule) for b in bottlenecks)


@pytest.mark.parametrize("size", [7, 14, 15])
def test_dfc_gate_covers_odd_sizes(size: int) -> None:
    """At 7x7 the pooled gate is 3x3; the upsampled gate must still match the output map."""
    module = DFCGhostModule(8, 12).eval()
    with torch.no_grad():
        out = module(torch.randn(1, 8, size, size))
    assert out.shape == (1, 12, size, size)
