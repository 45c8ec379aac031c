"""Model complexity with one definition for every family.

- ``params``: exact count of parameters.
- ``macs``: multiply-accumulates of one batch-1 forward pass, from ``torch.utils.flop_counter``
  (which counts convolutions and matrix products as 2 x MACs; we halve it). The GhostNet,
  G-GhostNet, MobileNet, ShuffleNet and RegNet papers call this number "FLOPs".
- ``activations``: Radosavovic et al. 2020 ("Designing Network Design Spaces"): the total number
  of elements in the output tensors of all conv layers.
- ``activations_pycls``: pycls's code adds linear and max-pool outputs to that; kept so a test can
  check our count against pycls's published integers.

Counts come from forward hooks on the real modules, so they can never drift from the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)
_PYCLS_EXTRA = (nn.Linear, nn.MaxPool2d)


@dataclass(frozen=True)
class Complexity:
    params: int
    macs: int
    activations: int
    activations_pycls: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class LayerCount:
    """One leaf module's share of a forward pass."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    activations: int


def _example(model: nn.Module, input_size: int) -> torch.Tensor:
    param = next(model.parameters(), None)
    device = param.device if param is not None else "cpu"
    return torch.zeros(1, 3, input_size, input_size, device=device)


def count(model: nn.Module, input_size: int = 224) -> Complexity:
    """Params, MACs and activations of ``model`` for one ``1 x 3 x input_size x input_size`` image."""
    acts = {"conv": 0, "pycls": 0}

    def hook(module: nn.Module, _inputs, output: torch.Tensor) -> None:
        n = output.numel()
        if isinstance(module, _CONV):
            acts["conv"] += n
            acts["pycls"] += n
        else:
            acts["pycls"] += n

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _CONV + _PYCLS_EXTRA)]
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(_example(model, input_size))
    finally:
        for h in handles:
            h.remove()
    return Complexity(
        params=sum(p.numel() for p in model.parameters()),
        macs=counter.get_total_flops() // 2,
        activations=acts["conv"],
        activations_pycls=acts["pycls"],
    )


@cache
def count_model(name: str) -> Complexity:
    """Complexity of a registered model, counted on the meta device: shapes only, no arithmetic,
    so the whole zoo is counted in seconds. Identical to :func:`count` on the real weights."""
    from ghostbench.models import registry

    spec = registry.get(name)
    with torch.device("meta"):
        model = spec.builder(**spec.builder_kwargs()).eval()
    return count(model, spec.input_size)


def per_layer(model: nn.Module, input_size: int = 224) -> list[LayerCount]:
    """Per-leaf-module breakdown in execution order (a module called twice appears twice)."""
    rows: list[LayerCount] = []
    counter = FlopCounterMode(display=False)
    names = {m: n for n, m in model.named_modules()}

    def pre_hook(module: nn.Module, _inputs) -> None:
        module._gb_flops_before = counter.get_total_flops()  # type: ignore[attr-defined]

    def hook(module: nn.Module, _inputs, output) -> None:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
        macs = (counter.get_total_flops() - module._gb_flops_before) // 2  # type: ignore[attr-defined]
        rows.append(
            LayerCount(
                name=names[module],
                kind=type(module).__name__,
                output_shape=shape,
                params=sum(p.numel() for p in module.parameters(recurse=False)),
                macs=macs,
                activations=output.numel() if isinstance(module, _CONV) else 0,
            )
        )

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_pre_hook(pre_hook) for m in leaves]
    handles += [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad(), counter:
            model(_example(model, input_size))
    finally:
        for h in handles:
            h.remove()
        for m in leaves:
            m.__dict__.pop("_gb_flops_before", None)
    return rows
