"""Measure a list of cells: ``rounds`` rounds, each round one window of every cell, each window in
a fresh worker process (on CPU forked from a warm server, ``worker.forkserver``; on CUDA in turn in
a backend's session worker, ``worker.session``); then one results row per cell. With
``interleave="group"`` the rounds run group by group (one backend and precision), so the groups
finished before a run is cut short are all in its results.

Interleaving the cells in every round spreads slow drift and noisy-neighbour bursts over all cells
instead of letting them land on one unlucky cell, and the spread of a cell's window medians shows
how much the machine moved (see ``docs/methodology.md``). A cell whose window fails is finished at
once as an error row and not measured again; the others go on.

Each finished cell is written through :class:`~ghostbench.bench.store.RunStore` right away, so a
killed run keeps every finished cell. Callbacks report progress to a UI without this module
knowing about one.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ghostbench.bench.store import MEASURED_COLUMNS, RunStore, samples_frame
from ghostbench.core import stats
from ghostbench.core.cell import Cell
from ghostbench.core.errors import GhostbenchError
from ghostbench.core.window import HarnessConfig, WindowOutcome, request
from ghostbench.exporters.cache import default_cache_dir
from ghostbench.models.info import ModelInfo, model_info
from ghostbench.models.manifest import Zoo
from ghostbench.worker import env, pool, process

if TYPE_CHECKING:
    from ghostbench.core.artifact import Artifact

# Flags in the order the schema lists them.
FLAG_ORDER: tuple[str, ...] = (
    "high_cv",
    "drift",
    "time_cap",
    "throttled",
    "window_outlier",
    "parity_failed",
    "no_parity",
)
# How the windows of the cells are ordered (``measure``).
INTERLEAVE: tuple[str, ...] = ("run", "group")
# The null runner's window for the overhead floor: short, many samples.
OVERHEAD_HARNESS = HarnessConfig(
    warmup_min_iters=1000,
    warmup_min_s=0.05,
    warmup_max_s=0.5,
    min_samples=10_000,
    min_time_s=0.1,
    time_cap_s=1.0,
    max_samples=100_000,
)


@dataclass(frozen=True)
class MeasureOptions:
    """``rounds`` windows per cell; ``timeout_s`` bounds one window's worker, load included;
    ``fork_server``: fork CPU windows from a warm server (``worker.forkserver``) instead of
    starting a fresh interpreter for each; ``cuda_session``: run the CUDA windows of a backend one
    after another in one long-lived worker (``worker.session``), ended after any failed window."""

    rounds: int = 3
    harness: HarnessConfig = field(default_factory=HarnessConfig)
    timeout_s: float = 300.0
    seed: int = 0
    fork_server: bool = True
    cuda_session: bool = True
    interleave: str = "run"  # or "group": see ``measure``

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise GhostbenchError(f"rounds must be >= 1, got {self.rounds}")
        if self.interleave not in INTERLEAVE:
            raise GhostbenchError(
                f"interleave must be one of {', '.join(INTERLEAVE)}, got {self.interleave!r}"
            )
        if not math.isfinite(self.timeout_s) or self.timeout_s <= 0:
            raise GhostbenchError(f"timeout must be > 0 s, got {self.timeout_s}")

    def to_dict(self) -> dict:
        """Flat, as ``run.json`` ``options`` holds them (harness settings beside the rest)."""
        return {
            "rounds": self.rounds,
            "timeout_s": self.timeout_s,
            "seed": self.seed,
            "fork_server": self.fork_server,
            "cuda_session": self.cuda_session,
            "interleave": self.interleave,
            **self.harness.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> MeasureOptions:
        """The inverse of :meth:`to_dict` (other keys of ``run.json`` ``options`` are ignored)."""
        harness = HarnessConfig.from_dict(
            {k: v for k, v in data.items() if k in HarnessConfig.__dataclass_fields__}
        )
        return cls(
            rounds=data["rounds"],
            harness=harness,
            timeout_s=data["timeout_s"],
            seed=data.get("seed", 0),
            # a run recorded before fork servers existed resumes as it began: a fresh worker per window
            fork_server=data.get("fork_server") is True,
            cuda_session=data.get("cuda_session") is True,
            interleave=data.get("interleave", "run"),
        )


@dataclass
class CellState:
    """What the rounds have learned about one cell so far: its artifact, model columns and the
    worker answers of its windows, until it becomes a row."""

    cell: Cell
    artifact: Artifact | None = None
    info: ModelInfo = field(default_factory=ModelInfo)
    windows: list[dict] = field(default_factory=list)  # worker answers, in round order
    wall_s: list[float] = field(default_factory=list)
    started_at: str = ""
    error: str = ""
    done: bool = False


def ns_to_ms(ns: float) -> float:
    """Nanoseconds (what workers measure) to milliseconds (what rows hold)."""
    return ns / 1e6


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _common(state: CellState, run_id: str) -> dict:
    cell, info, artifact = state.cell, state.info, state.artifact
    first = state.windows[0] if state.windows else {}
    parity = artifact.parity if artifact is not None else None
    return {
        "run_id": run_id,
        "cell": cell.key,
        "model": cell.model,
        "family": info.family,
        "backend": cell.backend,
        "runtime": first.get("runtime", ""),
        "runtime_version": first.get("runtime_version", ""),
        "device": cell.device,
        "device_name": first.get("device_name") or (env.cpu_model() if cell.device == "cpu" else ""),
        "precision": cell.precision,
        "threads": cell.threads,
        "params": info.params,
        "macs": info.macs,
        "activations": info.activations,
        "top1": info.top1,
        "top1_source": info.top1_source,
        "top1_kind": info.top1_kind,
        "artifact_sha256": artifact.sha256 if artifact is not None else "",
        "parity_cosine": parity.cosine if parity is not None else None,
        "parity_max_abs": parity.max_abs if parity is not None else None,
        "started_at": state.started_at,
        "duration_s": sum(state.wall_s),
        "flags": "",
        "error": "",
        **dict.fromkeys(MEASURED_COLUMNS),
    }


def error_row(state: CellState, run_id: str) -> dict:
    """The row of a failed cell: identity and model columns, no numbers, the reason."""
    return {**_common(state, run_id), "status": "error", "error": state.error}


def result_row(state: CellState, run_id: str, harness: HarnessConfig) -> dict:
    """The row of a measured cell: the summary of all windows' samples plus the cell's flags."""
    results = [w["window"] for w in state.windows]
    if all("reported" in w for w in state.windows):
        # A benchmark tool that prints statistics, not samples (TFLite benchmark_model over adb).
        summary = stats.summarize_reported([w["reported"] for w in state.windows])
    else:
        summary = stats.summarize([r["samples_ns"] for r in results], confidence=harness.confidence)
    flags = set(summary.flags)
    if any(r["stop"] == "time_cap" for r in results):
        flags.add("time_cap")
    if not all(r["settled"] for r in results):
        flags.add("drift")
    if any(env.throttle_reasons(w.get("env_before", {}), w.get("env_after", {})) for w in state.windows):
        flags.add("throttled")
    artifact = state.artifact
    if artifact is not None and artifact.parity is not None and not artifact.parity.passed:
        flags.add("parity_failed")
    if artifact is not None and artifact.meta.get("source") == "file":  # no eager model to compare
        flags.add("no_parity")
    return {
        **_common(state, run_id),
        "status": "ok",
        "median_ms": ns_to_ms(summary.median_ns),
        "p90_ms": ns_to_ms(summary.p90_ns),
        "p99_ms": ns_to_ms(summary.p99_ns),
        "mean_ms": ns_to_ms(summary.mean_ns),
        "std_ms": ns_to_ms(summary.std_ns),
        "min_ms": ns_to_ms(summary.min_ns),
        "max_ms": ns_to_ms(summary.max_ns),
        "cv": summary.cv,
        "ci_low_ms": ns_to_ms(summary.ci_low_ns),
        "ci_high_ms": ns_to_ms(summary.ci_high_ns),
        "n": summary.n,
        "windows": summary.windows,
        "window_spread": summary.window_spread,
        "first_ms": ns_to_ms(_median([r["first_ns"] for r in results])),
        "load_ms": ns_to_ms(_median([r["load_ns"] for r in results])),
        "flags": ";".join(f for f in FLAG_ORDER if f in flags),
    }


def window_details(state: CellState) -> dict:
    """Per-window facts for ``run.json``: how each window warmed up and stopped, and the machine."""
    details = []
    for i, answer in enumerate(state.windows):
        r = answer["window"]
        # A tool that reports statistics (benchmark_model) gives its count and median, if printed.
        reported = answer.get("reported", {})
        median_ns = _median(r["samples_ns"]) if r["samples_ns"] else reported.get("median_ns")
        details.append(
            {
                "window": i,
                "stop": r["stop"],
                "settled": r["settled"],
                "warmup_n": r["warmup_n"],
                "warmup_s": r["warmup_ns"] / 1e9,
                "timed_s": r["timed_ns"] / 1e9,
                "n": len(r["samples_ns"]) or reported.get("count", 0),
                "halfwidth": r["halfwidth"],
                "median_ms": None if median_ns is None else ns_to_ms(median_ns),
                "load_ms": ns_to_ms(r["load_ns"]),
                "first_ms": ns_to_ms(r["first_ns"]),
                "wall_s": state.wall_s[i],
                "throttle": env.throttle_reasons(answer.get("env_before", {}), answer.get("env_after", {})),
                "env_before": answer.get("env_before", {}),
                "env_after": answer.get("env_after", {}),
            }
        )
    return {"windows": details}


def measure(
    cells: Sequence[Cell],
    *,
    run_id: str,
    options: MeasureOptions | None = None,
    store: RunStore | None = None,
    artifact_for: Callable[[Cell], Artifact | None] | None = None,
    on_window_start: Callable[[Cell, int], None] | None = None,
    on_window_done: Callable[[Cell, int, WindowOutcome], None] | None = None,
    on_cell_done: Callable[[dict], None] | None = None,
    spawn: Callable[..., WindowOutcome] | None = None,
    cache_dir: Path | None = None,
) -> list[dict]:
    """Measure ``cells`` round by round and return one row per cell, in the order given.

    ``artifact_for(cell)`` runs in the parent before a cell's first window (exports are untimed
    and cached); an exception there makes the cell an error row. Each finished row is appended
    to ``store`` (with its samples and per-window details) before ``on_cell_done`` sees it.
    ``spawn(payload, timeout_s=...)`` runs one window (default: a fork server per backend for CPU
    cells when ``options.fork_server``, a session worker per backend for CUDA cells when
    ``options.cuda_session``, else ``process.spawn``; a board's spawn from
    ``worker.remote`` runs it over SSH or adb). ``cache_dir`` is the artifact cache whose zoo
    manifest gives the model columns (default: ``$GHOSTBENCH_CACHE_DIR`` or the user's cache).
    """
    from ghostbench.bench.plan import unavailable

    options = options or MeasureOptions()
    # A pool starts no server until a window needs one, so it costs nothing when ``spawn`` is given.
    with pool.Pool(enabled=options.fork_server, sessions=options.cuda_session) as warm:
        spawn = spawn or warm.spawn
        keys = [c.key for c in cells]
        duplicates = sorted(k for k, count in Counter(keys).items() if count > 1)
        if duplicates:
            raise GhostbenchError(f"cells repeat: {', '.join(duplicates)}")
        states = [CellState(cell) for cell in cells]
        infos: dict[str, ModelInfo] = {}
        zoo = functools.cache(lambda: Zoo(cache_dir or default_cache_dir()))
        rows: dict[str, dict] = {}

        def finish(state: CellState, row: dict, samples: list[list[int]]) -> None:
            state.done = True
            rows[state.cell.key] = row
            if store is not None:
                frame = samples_frame(run_id, state.cell.key, samples) if samples else None
                store.append(row, frame, window_details(state))
            if on_cell_done is not None:
                on_cell_done(row)

        def fail(state: CellState, error: str) -> None:
            state.error = error
            finish(state, error_row(state, run_id), [])

        def step(state: CellState, round_index: int) -> None:
            """One window of one cell; its first also resolves the model facts and the artifact."""
            cell = state.cell
            if round_index == 0:
                state.started_at = env.now_iso()
                try:
                    why = unavailable(cell)  # cells not planned by make_plan (run, --resume, the API)
                    if why:
                        raise GhostbenchError(why)
                    if cell.model not in infos:
                        infos[cell.model] = model_info(cell.model, zoo())
                    state.info = infos[cell.model]
                    state.artifact = artifact_for(cell) if artifact_for is not None else None
                except Exception as exc:  # an export or model failure costs this cell only
                    fail(state, _describe(exc))
                    return
            if on_window_start is not None:
                on_window_start(cell, round_index)
            payload = request(
                cell, state.artifact, options.harness.to_dict(), seed=options.seed, window=round_index
            )
            outcome = spawn(payload, timeout_s=options.timeout_s)
            state.wall_s.append(outcome.wall_s)
            if on_window_done is not None:
                on_window_done(cell, round_index, outcome)
            if not outcome.ok:
                fail(state, outcome.error)
                return
            state.windows.append(outcome.result)
            if round_index == options.rounds - 1:
                samples = [w["window"]["samples_ns"] for w in state.windows]
                finish(state, result_row(state, run_id, options.harness), samples)

        for group in _groups(states, options.interleave):
            for round_index in range(options.rounds):
                for state in group:
                    if not state.done:
                        step(state, round_index)
        return [rows[key] for key in keys]


def group_key(cell: Cell) -> tuple[str, str]:
    """The cells interleaved with each other when ``interleave`` is "group": one backend, one
    precision (the cells a claim compares)."""
    return cell.backend, cell.precision


def _groups(states: list[CellState], interleave: str) -> list[list[CellState]]:
    if interleave == "run":
        return [states]
    groups: dict[tuple[str, str], list[CellState]] = {}
    for state in states:
        groups.setdefault(group_key(state.cell), []).append(state)
    return list(groups.values())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, GhostbenchError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def record_speed(store: RunStore, when: str) -> None:
    """Time the machine-speed probe (``worker.speed``) now and keep it as ``run.json``
    ``speed_probe.<when>`` ("start" or "end") beside what is there."""
    from ghostbench.worker import speed

    probe = store.read_run_json().get("speed_probe") or {}
    store.update_run(speed_probe={**probe, when: speed.measure()})


def overhead_ns(timeout_s: float = 60.0, harness: HarnessConfig = OVERHEAD_HARNESS) -> int:
    """The null runner's median in a worker: the floor of the clock and loop, for ``run.json``."""
    payload = request(Cell("null", "null"), None, harness.to_dict(), seed=0, window=0)
    outcome = process.spawn(payload, timeout_s=timeout_s)
    if not outcome.ok:
        raise GhostbenchError(f"the null runner failed: {outcome.error}")
    return round(statistics.median(outcome.result["window"]["samples_ns"]))
