"""The per-model columns of a results row: family, exact complexity and published top-1.

Computed once per model in the parent process (never inside a timed window) from the registry,
``complexity.count_model`` and the published figures with their sources, through the zoo manifest
(``manifest.py``), which keeps them between runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ghostbench.core.errors import GhostbenchError

if TYPE_CHECKING:
    from ghostbench.models.manifest import Zoo


@dataclass(frozen=True)
class ModelInfo:
    """Per-model columns, computed once in the parent (never inside a timed window)."""

    family: str = ""
    params: int | None = None
    macs: int | None = None
    activations: int | None = None
    top1: float | None = None
    top1_source: str = ""
    top1_kind: str = ""


def model_info(model: str, zoo: Zoo) -> ModelInfo:
    """Family, complexity (``ghostbench.models.complexity``) and published top-1 of ``model``, read
    from the zoo manifest (no torch once it holds the model)."""
    try:
        entry = zoo.get(model)
    except KeyError as exc:
        raise GhostbenchError(str(exc)) from None
    counts = zoo.counts([model])[model]
    return ModelInfo(
        family=entry.family,
        params=counts.params,
        macs=counts.macs,
        activations=counts.activations,
        top1=entry.top1,
        top1_source=entry.top1_source,
        top1_kind=(entry.top1_kind or "published") if entry.top1 is not None else "",
    )
