"""Checkpoint loading (`ghostbench.models.weights`): the wrappers the official releases use, one-line
errors naming the first mismatches, weights_only refusing pickled objects, and export cache keys
that follow the weights file's content."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from ghostbench.commands import cli
from ghostbench.exporters import cache
from ghostbench.models import registry, weights
from ghostbench.models.registry import ModelSpec
from ghostbench.models.weights import CheckpointError

LAYOUTS = Path(__file__).parent / "data" / "official_layouts"


def small_net(num_classes: int = 4) -> nn.Module:
    """A registered-model stand-in: conv, BN, classifier."""
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, 2, 1, bias=False),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, num_classes),
    )


SPEC = ModelSpec(name="weights_probe", family="test", builder=small_net, input_size=16, num_classes=4)


def _trained_state(seed: int = 1) -> dict[str, torch.Tensor]:
    """Weights no seeded build would give (and BN statistics calibration would not set)."""
    torch.manual_seed(seed)
    state = small_net().state_dict()
    for value in state.values():
        if value.is_floating_point():
            value.copy_(torch.rand_like(value) + 0.5)
    return state


def _layout_state(name: str) -> dict[str, torch.Tensor]:
    """A checkpoint with the keys and shapes the official code saves (tests/data/official_layouts)."""
    layout = json.loads((LAYOUTS / f"{name}.json").read_text())["state_dict"]
    return {k: torch.rand(shape) if shape else torch.tensor(7) for k, shape in layout.items()}


def _save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: sd,
        lambda sd: {"state_dict": sd, "epoch": 90, "optimizer": {"state": {}, "param_groups": []}},
        lambda sd: {"model": sd},
        lambda sd: {"model_state": sd, "epoch": 99, "cfg": "MODEL:\n  TYPE: regnet\n"},  # pycls
        lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}},  # megvii, DataParallel
        lambda sd: {f"_orig_mod.{k}": v for k, v in sd.items()},  # torch.compile
    ],
    ids=["plain", "state_dict", "model", "pycls", "dataparallel", "compiled"],
)
def test_wrappers_and_prefixes_unwrap_to_the_same_weights(wrap, tmp_path: Path) -> None:
    state = _trained_state()
    path = _save(wrap(state), tmp_path / "ckpt.pth")
    spec = weights.with_weights(SPEC, path)
    assert spec.weights_sha256 == cache.file_sha256(path)
    loaded = spec.build().state_dict()
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


def test_missing_batchnorm_counters_are_tolerated(tmp_path: Path) -> None:
    state = {k: v for k, v in _trained_state().items() if not k.endswith("num_batches_tracked")}
    model = weights.with_weights(SPEC, _save(state, tmp_path / "old.pth")).build()
    assert torch.equal(model.state_dict()["1.running_var"], state["1.running_var"])


def test_official_release_layouts_load_with_their_wrappers(tmp_path: Path) -> None:
    """GhostNet's release is a bare state dict; megvii's ShuffleNetV1 files nest it under
    ``state_dict`` with DataParallel's ``module.`` prefix."""
    cases = {
        "ghostnet_100": lambda sd: sd,
        "shufflenetv1_g3_100": lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}},
    }
    for name, wrap in cases.items():
        state = _layout_state(name)
        path = _save(wrap(state), tmp_path / f"{name}.pth")
        model = registry.get(name).build()
        weights.load_into(model, weights.read_state_dict(path), what=name)
        got = model.state_dict()
        assert all(torch.equal(got[k], v) for k, v in state.items()), name


def test_a_wrong_key_names_the_first_mismatches_on_one_line(tmp_path: Path) -> None:
    state = _layout_state("ghostnet_100")
    state["conv_stem.kernel"] = state.pop("conv_stem.weight")
    state["classifier.weight"] = torch.zeros(10, 1280)
    state["extra.a"] = state["extra.b"] = state["extra.c"] = state["extra.d"] = torch.zeros(1)
    path = _save(state, tmp_path / "renamed.pth")
    with pytest.raises(CheckpointError) as info:
        weights.with_weights(registry.get("ghostnet_100"), path)
    message = str(info.value)
    assert "\n" not in message
    assert f"{path} does not fit ghostnet_100" in message
    assert "1 missing keys: conv_stem.weight" in message
    assert "5 unexpected keys: conv_stem.kernel, extra.a, extra.b (+2 more)" in message
    assert "1 shape mismatches: classifier.weight (file [10, 1280], model [1000, 1280])" in message
    assert "it loads huawei-noah/Efficient-AI-Backbones ghostnet_pytorch" in message


def test_cli_reports_a_bad_checkpoint_in_one_line(tmp_path: Path, capsys) -> None:
    data = tmp_path / "val"
    for index in range(1000):  # the ImageNet layout: every class folder, one image
        (data / f"n{index:08d}").mkdir(parents=True)
    Image.new("RGB", (300, 260)).save(data / "n00000000" / "a.png")
    state = _layout_state("ghostnet_100")
    state["blocks.0.0.ghost1.primary_conv.0.weight"] = torch.zeros(8, 16, 3, 3)
    path = _save({"state_dict": state}, tmp_path / "bad.pth")
    code = cli.main(["evaluate", "ghostnet_100", "--weights", str(path), "--data", str(data)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("ERROR: ")
    assert "blocks.0.0.ghost1.primary_conv.0.weight (file [8, 16, 3, 3], model [8, 16, 1, 1])" in err


class Opaque:
    """Any class: a pickle of it would run code on load, which weights_only refuses."""


def test_weights_only_refuses_pickled_objects_and_garbage(tmp_path: Path) -> None:
    path = _save({"state_dict": _trained_state(), "extra": Opaque()}, tmp_path / "pickled.pth")
    with pytest.raises(CheckpointError, match=r"weights_only=True"):
        weights.read_state_dict(path)
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.pth: not a checkpoint"):
        weights.read_state_dict(junk)
    with pytest.raises(CheckpointError, match=r"no state dict found \(top-level keys: epoch, lr"):
        weights.read_state_dict(_save({"epoch": 3, "lr": 0.1}, tmp_path / "meta.pth"))
    with pytest.raises(CheckpointError, match="cannot read weights"):
        weights.with_weights(SPEC, tmp_path / "absent.pth")


def test_export_cache_key_follows_the_weights_content(tmp_path: Path) -> None:
    def key(spec: ModelSpec) -> str:
        return cache.cache_key(spec, "onnx", "fp32", seed=0, options={}, versions={})

    first = _save(_trained_state(1), tmp_path / "a.pth")
    second = _save(_trained_state(2), tmp_path / "b.pth")
    moved = tmp_path / "elsewhere" / "a.pth"
    moved.parent.mkdir()
    shutil.copy(first, moved)
    keys = [key(SPEC), key(weights.with_weights(SPEC, first)), key(weights.with_weights(SPEC, second))]
    assert len(set(keys)) == 3
    assert key(weights.with_weights(SPEC, moved)) == keys[1]  # content, not path


def test_a_file_changed_after_hashing_is_refused(tmp_path: Path) -> None:
    path = _save(_trained_state(1), tmp_path / "a.pth")
    spec = weights.with_weights(SPEC, path)
    _save(_trained_state(2), path)
    with pytest.raises(CheckpointError, match="changed while in use"):
        spec.build()
