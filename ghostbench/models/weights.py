"""Trained weights from a checkpoint file, for measuring accuracy on the artifact that is timed.

Latency runs use seeded random weights; ``ghostbench evaluate --weights PATH`` needs the trained
ones. A :class:`CheckpointSpec` is the registered spec whose ``build()`` loads a checkpoint, so
every exporter and the parity check (which all call ``spec.build``) see the trained network, and
the export cache key includes the file's sha256 (``exporters/cache.py``).

Files are read with ``torch.load(weights_only=True)``: tensors and plain containers only, never
arbitrary pickled objects. The usual wrappers are unwrapped (``{"state_dict": ...}`` from timm and
most training scripts, ``{"model_state": ...}`` from pycls, ``{"model": ...}``) and the prefixes
of ``nn.DataParallel`` (``module.``) and ``torch.compile`` (``_orig_mod.``) removed. Keys are
never renamed: a model loads the checkpoints whose layout it follows (:data:`CHECKPOINT_LAYOUTS`),
and a file that does not fit is refused with the first missing, unexpected and mis-shaped keys.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from ghostbench.core.errors import GhostbenchError
from ghostbench.models.registry import ModelSpec

if TYPE_CHECKING:
    import torch
    from torch import nn

# Keys under which training scripts nest the state dict, tried in this order.
WRAPPER_KEYS: tuple[str, ...] = ("state_dict", "model_state", "model", "net")
# Prefixes added by nn.DataParallel / DistributedDataParallel and torch.compile.
PREFIXES: tuple[str, ...] = ("module.", "_orig_mod.")
# BatchNorm's step counter: absent from older checkpoints and unused in eval mode.
OPTIONAL_SUFFIX = "num_batches_tracked"
SHOWN = 3  # mismatches named per kind in an error

# Family -> the published checkpoints whose state-dict layout its models follow (docs/accuracy.md).
CHECKPOINT_LAYOUTS: dict[str, str] = {
    "c-ghost": "huawei-noah/Efficient-AI-Backbones ghostnet_pytorch (state_dict_73.98.pth)",
    "g-ghost": "huawei-noah/Efficient-AI-Backbones g_ghost_pytorch (g_ghost_regnet_*.pth)",
    "ghostnetv2": "huawei-noah/Efficient-AI-Backbones ghostnetv2_pytorch (ck_ghostnetv2_*.pth.tar)",
    "regnet": "facebookresearch/pycls model zoo (RegNetX-*_dds_8gpu.pyth)",
    "shufflenet": "megvii-model/ShuffleNet-Series for ShuffleNetV1, torchvision for ShuffleNetV2",
    "resnet": "torchvision (resnet50)",
}


class CheckpointError(GhostbenchError):
    """A weights file that cannot be read, or does not fit the model; one line naming the mismatches."""


def _unwrap(obj: object, where: Path) -> dict[str, torch.Tensor]:
    import torch

    while isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        key = next((k for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if key is None:
            found = ", ".join(map(str, list(obj)[:6])) or "nothing"
            raise CheckpointError(
                f"{where}: no state dict found (top-level keys: {found}; looked under "
                f"{', '.join(WRAPPER_KEYS)})"
            )
        obj = obj[key]
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{where}: holds a {type(obj).__name__}, not a state dict")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{where}: entries that are not tensors: {', '.join(map(str, bad[:SHOWN]))}")
    state = dict(obj)
    for prefix in PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def read_state_dict(path: str | Path, expected_sha256: str | None = None) -> dict[str, torch.Tensor]:
    """The state dict inside ``path`` (wrappers and prefixes removed), loaded on the CPU.

    ``expected_sha256``: refuse a file that changed since it was hashed (its hash keys the exports).
    """
    import torch

    where = Path(path)
    try:
        blob = where.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read weights {where}: {exc.strerror or exc}") from None
    if expected_sha256 is not None and hashlib.sha256(blob).hexdigest() != expected_sha256:
        raise CheckpointError(f"{where} changed while in use (its sha256 no longer matches)")
    try:
        obj = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, an unsupported global: all mean "not for us"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(
            f"{where}: not a checkpoint torch.load(weights_only=True) can read "
            f"(tensors and plain containers only): {first}"
        ) from None
    return _unwrap(obj, where)


def _names(keys: list[str]) -> str:
    more = f" (+{len(keys) - SHOWN} more)" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more


def load_into(model: nn.Module, state: Mapping[str, torch.Tensor], *, what: str, family: str = "") -> None:
    """Copy ``state`` into ``model`` (every key, every shape) or raise :class:`CheckpointError`.

    BatchNorm step counters missing from the file are kept from the model; anything else missing,
    unexpected or of another shape is an error that names the first mismatches of each kind.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith(OPTIONAL_SUFFIX)]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} (file {list(state[k].shape)}, model {list(own[k].shape)})"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = [
            f"{len(keys)} {kind}: {_names(keys)}"
            for kind, keys in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("shape mismatches", shapes),
            )
            if keys
        ]
        hint = f"; it loads {CHECKPOINT_LAYOUTS[family]}" if family in CHECKPOINT_LAYOUTS else ""
        raise CheckpointError(f"{what}: {'; '.join(parts)}{hint}")
    model.load_state_dict({**own, **state}, strict=True)


def file_sha256(path: str | Path) -> str:
    from ghostbench.core.artifact import file_sha256 as digest

    try:
        return digest(path)
    except OSError as exc:
        raise CheckpointError(f"cannot read weights {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True, kw_only=True)
class CheckpointSpec(ModelSpec):
    """A registered model whose ``build()`` returns it with the weights of a checkpoint file.

    ``weights_sha256`` (the file's content) goes into export cache keys instead of the path, so
    artifacts follow the weights: another file is another artifact, a moved file is a cache hit.
    """

    weights: Path
    weights_sha256: str

    def build(self, seed: int = 0, **overrides) -> nn.Module:
        """The registered network with the checkpoint's weights, in eval mode (``seed`` only
        shapes the throw-away initialisation the checkpoint overwrites)."""
        model = super().build(seed, **overrides)
        state = read_state_dict(self.weights, expected_sha256=self.weights_sha256)
        load_into(model, state, what=f"{self.weights} does not fit {self.name}", family=self.family)
        return model.eval()


def with_weights(spec: ModelSpec, path: str | Path) -> CheckpointSpec:
    """``spec`` with the weights of ``path``, checked once now so a bad file fails before any export."""
    where = Path(path)
    base = {f.name: getattr(spec, f.name) for f in fields(ModelSpec)}
    checkpoint = CheckpointSpec(**base, weights=where, weights_sha256=file_sha256(where))
    checkpoint.build()
    return checkpoint
