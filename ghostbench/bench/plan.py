"""Device profiles and the plan: which cells (model x backend x precision x threads) a run measures.

A profile is data: the default model set and backends for one kind of device. ``make_plan`` turns a
profile plus the user's overrides into cells, and says which cells cannot run here and why (a
backend not installed, no GPU), so a skipped cell is recorded, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ghostbench.core.cell import ARTIFACT_FORMATS, REMOTE_BACKENDS, REMOTE_DEVICES, Cell
from ghostbench.core.errors import GhostbenchError

if TYPE_CHECKING:
    from ghostbench.models.model_file import ModelFile

# The default model set (issue 6): C-Ghost at three widths, G-Ghost RegNetX and plain RegNetX at
# the three sizes with released G-Ghost checkpoints (so all have published accuracy), and the
# baselines the GhostNet papers compare against.
DEFAULT_MODELS: tuple[str, ...] = (
    "ghostnet_050",
    "ghostnet_100",
    "ghostnet_130",
    "g_ghost_regnetx_032",
    "g_ghost_regnetx_040",
    "g_ghost_regnetx_080",
    "regnetx_032",
    "regnetx_040",
    "regnetx_080",
    "ghostnetv2_100",
    "mobilenetv2_100",
    "mobilenetv3_large_100",
    "shufflenetv2_100",
    "resnet50",
    "ghost_resnet50",
)
QUICK_MODELS: tuple[str, ...] = ("ghostnet_050", "mobilenetv3_small_100", "shufflenetv2_100")
# On a GPU the activations-vs-MACs test gains power with every model: the largest G-Ghost RegNetX
# with a released checkpoint and its plain RegNetX join the default set (issue 19).
GPU_MODELS: tuple[str, ...] = (*DEFAULT_MODELS, "g_ghost_regnetx_160", "regnetx_160")
# torch.compile costs tens of seconds of compilation per model: the pair that decides the G-Ghost
# claim at its smallest released size, and C-Ghost 1.0.
COMPILE_MODELS: tuple[str, ...] = ("ghostnet_100", "g_ghost_regnetx_032", "regnetx_032")


@dataclass(frozen=True)
class Subset:
    """What one backend of a profile measures when it is not everything the profile lists: only
    these precisions, only these models (empty: the profile's). A user's --precisions or --models
    replaces the matching part."""

    precisions: tuple[str, ...] = ()
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    name: str
    device: str  # the Cell.device of its cells
    backends: tuple[str, ...]
    models: tuple[str, ...] = DEFAULT_MODELS
    precisions: tuple[str, ...] = ("fp32",)
    threads: tuple[int, ...] = (1,)
    quick_backends: tuple[str, ...] = ()
    remote: str | None = None  # "ssh" or "adb": cells run on another machine
    subsets: Mapping[str, Subset] = field(default_factory=dict)  # per backend
    # Window settings (``HarnessConfig`` fields) that differ from the default for this device;
    # bench's --time-cap and --min-time win over them.
    harness: Mapping[str, float] = field(default_factory=dict)
    # "run": every round measures one window of every cell; "group": the cells of one backend and
    # precision run all their rounds before the next group starts, so a run cut short keeps
    # every group it finished (``bench.measure``).
    interleave: str = "run"


PROFILES: dict[str, Profile] = {
    "cpu": Profile(
        name="cpu",
        device="cpu",
        backends=("torch", "onnxruntime", "tflite"),
        quick_backends=("onnxruntime", "tflite"),
    ),
    # Sized for a lent H100 (docs/methodology.md, "A GPU run in minutes"): CUDA graphs and
    # torch.compile in fp16 only, torch.compile on three models, shorter windows than on a shared
    # CPU (a dedicated GPU timed with CUDA events is far quieter), the slowest group last.
    "gpu": Profile(
        name="gpu",
        device="cuda",
        backends=("torch", "torch_cudagraph", "onnxruntime", "tensorrt", "torch_compile"),
        models=GPU_MODELS,
        precisions=("fp32", "fp16"),
        quick_backends=("torch", "torch_cudagraph"),
        subsets={
            "torch_cudagraph": Subset(precisions=("fp16",)),
            "torch_compile": Subset(precisions=("fp16",), models=COMPILE_MODELS),
        },
        harness={"warmup_min_s": 0.2, "min_time_s": 0.5, "time_cap_s": 2.0},
        interleave="group",
    ),
    "pi": Profile(
        name="pi",
        device="pi",
        backends=("tflite", "onnxruntime"),
        threads=(1, 4),
        quick_backends=("tflite",),
        remote="ssh",
    ),
    "android": Profile(
        name="android",
        device="android",
        backends=("tflite",),
        threads=(1, 4),
        quick_backends=("tflite",),
        remote="adb",
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except (KeyError, TypeError):  # TypeError: a profile read from an edited run.json
        raise GhostbenchError(f"unknown device {name!r}; valid devices: {', '.join(PROFILES)}") from None


@dataclass(frozen=True)
class Plan:
    profile: Profile
    cells: tuple[Cell, ...]
    skipped: tuple[tuple[Cell, str], ...] = ()


def check_remote_cell(cell: Cell) -> None:
    """What this side can tell about a cell for a board or phone before anything is exported: a
    backend it can run and options that backend knows. The rest (libraries) is checked there."""
    from ghostbench.runners import runner_class
    from ghostbench.worker.remote.adb import OPTIONS as PHONE_OPTIONS

    allowed = REMOTE_BACKENDS[cell.device]
    if cell.backend not in allowed:
        raise GhostbenchError(
            f"the {cell.device} profile runs {', '.join(allowed)} cells, not {cell.backend!r}"
        )
    known = PHONE_OPTIONS if cell.device == "android" else runner_class(cell.backend).OPTIONS
    unknown = sorted(set(cell.options) - set(known))
    if unknown:
        valid = ", ".join(known) or "none"
        raise GhostbenchError(
            f"no option {', '.join(unknown)} for {cell.backend} on {cell.device}; valid: {valid}"
        )


def unavailable(cell: Cell) -> str | None:
    """Why ``cell`` cannot run (None if it can), in the runner's own words. Cells for a board or
    phone are checked as far as this side can (backend, options); their libraries, there."""
    from ghostbench.runners import runner_class

    try:
        if cell.device in REMOTE_DEVICES:
            check_remote_cell(cell)
        else:
            runner_class(cell.backend).check(cell)
    except GhostbenchError as exc:
        return str(exc)
    return None


def file_cell_problem(cell: Cell, file: ModelFile | None) -> str | None:
    """Why a model file cannot make ``cell`` (None if it can): see ``model_file.refusal``."""
    from ghostbench.models.model_file import refusal

    if file is None:
        return None
    why = refusal(file.format, file.precision, file.path, ARTIFACT_FORMATS.get(cell.backend), cell.precision)
    return f"{cell.model} {why}" if why else None


def make_plan(
    profile: Profile,
    *,
    models: tuple[str, ...] | None = None,
    backends: tuple[str, ...] | None = None,
    precisions: tuple[str, ...] | None = None,
    threads: tuple[int, ...] | None = None,
    quick: bool = False,
    options: Mapping[str, dict] | None = None,
) -> Plan:
    """Cells for ``profile`` with the user's overrides (``options``: cell options per backend); cells
    that cannot run here go to ``skipped``. A backend's :class:`Subset` narrows what the user left
    to the profile."""
    from ghostbench.models import registry

    if quick:
        models = models or QUICK_MODELS
        backends = backends or profile.quick_backends
        precisions = precisions or ("fp32",)
        threads = threads or profile.threads[:1]
    models_given = bool(models)
    models = tuple(models or profile.models)
    try:
        names = registry.select(models)
    except KeyError as exc:
        raise GhostbenchError(str(exc)) from None
    order = {name: i for i, name in enumerate(models)}
    names = sorted(names, key=lambda n: order.get(n, len(order)))
    cells: list[Cell] = []
    skipped: list[tuple[Cell, str]] = []
    for backend in backends or profile.backends:
        subset = profile.subsets.get(backend, Subset())
        backend_names = names
        if subset.models and not models_given:
            backend_names = [n for n in names if n in subset.models]
        for precision in precisions or subset.precisions or profile.precisions:
            for n_threads in threads or profile.threads:
                if n_threads < 1:
                    raise GhostbenchError(f"--threads must be >= 1, got {n_threads}")
                for name in backend_names:
                    opts = dict((options or {}).get(backend, {}))
                    cell = Cell(name, backend, profile.device, precision, n_threads, opts)
                    why = file_cell_problem(cell, registry.get(name).file) or unavailable(cell)
                    if why:
                        skipped.append((cell, why))
                    else:
                        cells.append(cell)
    return Plan(profile=profile, cells=tuple(cells), skipped=tuple(skipped))
