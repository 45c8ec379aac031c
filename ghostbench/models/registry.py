"""The model zoo's registry: one frozen ModelSpec per registered name.

Model modules register their variants with :func:`register_model`; the registry imports the
modules listed in ``MODEL_MODULES`` on first lookup (explicitly, not by star-import), so that
``ghostbench --help`` stays fast and a duplicate name fails loudly instead of shadowing.
Published metrics are data (``data/published_accuracy.csv``), never code.
"""

from __future__ import annotations

import csv
import difflib
import fnmatch
import importlib
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from ghostbench.core.errors import GhostbenchError

if TYPE_CHECKING:
    from torch import nn

    from ghostbench.models.model_file import ModelFile

# Every module that defines models. Adding a family means adding its module here.
MODEL_MODULES: tuple[str, ...] = (
    "ghostbench.models.ghostnet",
    "ghostbench.models.ghostnetv2",
    "ghostbench.models.g_ghost",
    "ghostbench.models.regnet",
    "ghostbench.models.resnet",
    "ghostbench.models.mobilenet",
    "ghostbench.models.shufflenet",
    "ghostbench.models.efficientnet",
    "ghostbench.models.yolo",
)


def _takes(function: Callable, name: str) -> bool:
    """Whether ``function`` accepts the keyword ``name`` (or any keyword)."""
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: try the keyword
        return True
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


class UnknownModelError(KeyError):
    """An unknown model name; the message lists the closest registered names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


@dataclass(frozen=True)
class PublishedMetric:
    """One published row: accuracy (percent) and complexity, with the source it came from."""

    top1: float | None
    top5: float | None = None
    params_m: float | None = None
    macs_m: float | None = None
    source: str = ""
    source_kind: str = ""  # paper, repo, ...; "given" for a row from ``--accuracy``
    confirmed: bool = False
    variant: str = ""
    notes: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """A registered model. ``build()`` returns a deterministic, eval-mode network.

    A zoo model has ``origin`` "" and its accuracy in ``data/published_accuracy.csv``; a model
    from a plugin package or the user's ``--models`` (``models/user.py``) says where it came from,
    may carry its own ``accuracy`` rows, and is built as given (no BatchNorm calibration: its
    weights may be trained). A model that exists only as an ONNX or TFLite file has ``file`` set
    and no PyTorch definition.
    """

    name: str
    family: str
    builder: Callable[..., nn.Module]
    input_size: int = 224
    num_classes: int = 1000
    task: str = "classification"  # or "detection": the output is decoded boxes and class scores
    paper: str = ""
    kwargs: dict = field(default_factory=dict, hash=False, compare=False)
    origin: str = ""  # "" the zoo, "plugin DIST", "user REF"
    accuracy: tuple[PublishedMetric, ...] = field(default=(), hash=False, compare=False)
    file: ModelFile | None = field(default=None, hash=False, compare=False)

    @property
    def module(self) -> str:
        """The Python module that defines the network (its source feeds the export cache key)."""
        return self.builder.__module__

    @property
    def where(self) -> str:
        """Where the model comes from, for messages: "the zoo (module)", "plugin X", "your REF"."""
        if not self.origin:
            return f"the zoo ({self.module})"
        return self.origin.replace("user ", "your ", 1)

    def builder_kwargs(self, **overrides) -> dict:
        """What the builder is called with: the registered options, ``num_classes`` (when the
        builder takes it: a user's callable may not), overrides."""
        classes = {"num_classes": self.num_classes} if _takes(self.builder, "num_classes") else {}
        return {**classes, **self.kwargs, **overrides}

    def build(self, seed: int = 0, **overrides) -> nn.Module:
        """Build with weights drawn from ``seed`` (same seed, same weights), in eval mode; a zoo
        model's BatchNorm statistics are calibrated on a random batch (``blocks.calibrate_batchnorm``)."""
        import torch

        from ghostbench.models.blocks import calibrate_batchnorm

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self.builder(**self.builder_kwargs(**overrides))
            if not isinstance(model, torch.nn.Module):
                what = f"{self.module}:{self.builder.__qualname__}"
                raise GhostbenchError(f"{what} returned {type(model).__name__}, not a torch.nn.Module")
            if self.origin:
                return model.eval()
            return calibrate_batchnorm(model, self.input_size)

    @property
    def published(self) -> tuple[PublishedMetric, ...]:
        """Published rows for this model, best first: its own (a plugin's, ``--accuracy``), else
        those of ``data/published_accuracy.csv``."""
        if self.accuracy:
            return self.accuracy
        return () if self.origin else published_metrics().get(self.name, ())

    @property
    def reference(self) -> PublishedMetric | None:
        """The row used for the accuracy axis: the first row with a top-1 figure."""
        return next((m for m in self.published if m.top1 is not None), None)


_REGISTRY: dict[str, ModelSpec] = {}
_loaded = False


def register_model(
    name: str,
    family: str,
    *,
    input_size: int = 224,
    num_classes: int = 1000,
    task: str = "classification",
    paper: str = "",
    **kwargs,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator form of :func:`register`: ``@register_model("ghostnet_100", "c-ghost", width=1.0)``."""

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        register(
            ModelSpec(
                name=name,
                family=family,
                builder=builder,
                input_size=input_size,
                num_classes=num_classes,
                task=task,
                paper=paper,
                kwargs=kwargs,
            )
        )
        return builder

    return wrap


def register(spec: ModelSpec) -> ModelSpec:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", spec.name):
        raise ValueError(f"model names are snake_case: {spec.name!r}")
    if spec.name in _REGISTRY:
        first = _REGISTRY[spec.name]
        if not spec.origin and not first.origin:  # two zoo modules: a bug in ghostbench
            raise ValueError(f"duplicate model name {spec.name!r} ({spec.module} and {first.module})")
        raise GhostbenchError(f"model name {spec.name!r} of {spec.where} clashes with {first.where}")
    _REGISTRY[spec.name] = spec
    return spec


def _load() -> None:
    """The zoo's modules, then plugin packages, then the user's own models of this command (all
    processes of one command register the same models: ``models/user.py``)."""
    global _loaded
    if not _loaded:
        _loaded = True
        for module in MODEL_MODULES:
            importlib.import_module(module)
        from ghostbench.models import user

        for spec in user.plugin_specs():
            register(spec)
        for spec in user.specs_from_env():
            register(spec)


def reload_user_models() -> None:
    """Drop the user's models and register those the environment names now (``user.activate``)."""
    if not _loaded:
        _load()
        return
    from ghostbench.models import user

    for name in [n for n, spec in _REGISTRY.items() if spec.origin.startswith("user ")]:
        del _REGISTRY[name]
    for spec in user.specs_from_env():
        register(spec)


def natural_key(name: str) -> list:
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def names() -> list[str]:
    _load()
    return sorted(_REGISTRY, key=natural_key)


def get(name: str) -> ModelSpec:
    """Look up one model; an unknown name raises with the closest registered names."""
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown_model(name, _REGISTRY) from None


def unknown_model(name: str, known: Iterable[str]) -> UnknownModelError:
    """The error for an unknown ``name``, naming the closest of ``known``."""
    close = difflib.get_close_matches(name, list(known), n=5, cutoff=0.5)
    hint = f"; did you mean: {', '.join(close)}" if close else "; see `ghostbench models`"
    return UnknownModelError(f"unknown model {name!r}{hint}")


def families() -> list[str]:
    _load()
    return sorted({spec.family for spec in _REGISTRY.values()})


def select(
    include: str | Iterable[str] = "*",
    exclude: Iterable[str] = (),
    family: str | None = None,
) -> list[str]:
    """Names matching any ``include`` wildcard and no ``exclude`` wildcard, naturally sorted.

    A pattern without wildcards must name a registered model exactly (a typo fails loudly).
    """
    _load()
    return select_from({n: spec.family for n, spec in _REGISTRY.items()}, include, exclude, family)


def select_from(
    family_of: dict[str, str],
    include: str | Iterable[str] = "*",
    exclude: Iterable[str] = (),
    family: str | None = None,
) -> list[str]:
    """:func:`select` over ``family_of`` (name -> family): the zoo manifest selects without torch."""
    patterns = [include] if isinstance(include, str) else list(include)
    valid = sorted(set(family_of.values()))
    if family is not None and family not in valid:
        raise ValueError(f"unknown family {family!r}; valid families: {', '.join(valid)}")
    chosen: set[str] = set()
    for pattern in patterns:
        if not any(ch in pattern for ch in "*?[") and pattern not in family_of:
            raise unknown_model(pattern, family_of)
        chosen.update(fnmatch.filter(family_of, pattern))
    for pattern in exclude:
        chosen -= set(fnmatch.filter(chosen, pattern))
    if family is not None:
        chosen = {n for n in chosen if family_of[n] == family}
    return sorted(chosen, key=natural_key)


def _float(text: str) -> float | None:
    return float(text) if text.strip() else None


@cache
def published_metrics() -> dict[str, tuple[PublishedMetric, ...]]:
    """Rows of the shipped ``published_accuracy.csv`` grouped by registry name, in file order."""
    rows: dict[str, list[PublishedMetric]] = {}
    with resources.files("ghostbench.models").joinpath("data/published_accuracy.csv").open() as fh:
        for row in csv.DictReader(fh):
            rows.setdefault(row["model"], []).append(
                PublishedMetric(
                    top1=_float(row["top1"]),
                    top5=_float(row["top5"]),
                    params_m=_float(row["params_m"]),
                    macs_m=_float(row["macs_m"]),
                    source=row["source"],
                    source_kind=row["source_kind"],
                    confirmed=row["confirmed"] == "yes",
                    variant=row["variant"],
                    notes=row["notes"],
                )
            )
    return {name: tuple(metrics) for name, metrics in rows.items()}
