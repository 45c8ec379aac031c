"""The per-model columns of a results row: family, exact complexity and published top-1.

Computed once per model in the parent process (never inside a timed window) from the registry,
``complexity.count_model`` and the published figures with their sources.
"""

from __future__ import annotations

from dataclasses import dataclass

from ghostbench.core.errors import GhostbenchError


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


def model_info(model: str) -> ModelInfo:
    """Family, complexity (``ghostbench.models.complexity``) and published top-1 of ``model``."""
    from ghostbench.models import complexity, registry

    try:
        spec = registry.get(model)
    except KeyError as exc:
        raise GhostbenchError(str(exc)) from None
    counts = complexity.count_model(model)
    reference = spec.reference
    return ModelInfo(
        family=spec.family,
        params=counts.params,
        macs=counts.macs,
        activations=counts.activations,
        top1=reference.top1 if reference else None,
        top1_source=reference.source if reference else "",
        top1_kind="published" if reference else "",
    )
