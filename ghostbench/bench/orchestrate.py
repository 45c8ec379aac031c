"""Run a plan end to end: export what is missing, measure every cell in rounds, keep every result.

This is what ``ghostbench bench`` (and so ``make bench``) does. The stages stay where they live
(``exporters.export``, ``measure.measure``, ``store.RunStore``); this module sequences them, shows
progress, logs to ``results/<run>/bench.log``, and makes an interrupted run resumable: every
finished cell is already on disk, ``run.json`` says ``interrupted`` and how to resume.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ghostbench.bench.console import terminal
from ghostbench.bench.measure import MeasureOptions, measure, overhead_ns, record_speed
from ghostbench.bench.plan import Plan
from ghostbench.bench.store import RunStore
from ghostbench.core.artifact import Artifact
from ghostbench.core.cell import Cell
from ghostbench.core.errors import GhostbenchError
from ghostbench.core.stats import finite
from ghostbench.models import user
from ghostbench.worker import env

LOG_NAME = "bench.log"
MAX_EXPORT_JOBS = 4
MIN_FREE_BYTES = 200 * 1024 * 1024  # results of a full run are a few MB; exports go to the cache
log = logging.getLogger("ghostbench.bench")


@dataclass
class BenchSettings:
    """Everything a run needs besides the plan; stored in ``run.json`` so ``--resume`` can reuse it."""

    measure: MeasureOptions
    cache_dir: Path | None = None
    allow_parity_failure: bool = False
    command: list[str] = field(default_factory=list)
    export_jobs: int | None = None  # models exported at once; None: one per usable CPU, at most 4


def check_output_dir(out_dir: Path) -> None:
    """Fail before any measuring if results cannot be written: read-only, not a folder, or full."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise GhostbenchError(f"cannot write results to {out_dir}: {exc.strerror or exc}") from None
    free = shutil.disk_usage(out_dir).free
    if free < MIN_FREE_BYTES:
        raise GhostbenchError(
            f"only {free / 2**20:.0f} MiB free under {out_dir}; a run needs at least "
            f"{MIN_FREE_BYTES / 2**20:.0f} MiB"
        )


def progress_console() -> Console:
    """The console a run draws its progress and summary on: stderr, wide enough for the summary
    table when stderr is a file or a CI log (rich would assume 80 columns)."""
    return terminal(stderr=True, width=None if sys.stderr.isatty() else 140)


@contextlib.contextmanager
def run_log(run_dir: Path) -> Iterator[logging.Logger]:
    """The run's logger, writing to ``run_dir/bench.log`` (appended) while the block runs."""
    handler = logging.FileHandler(run_dir / LOG_NAME, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # the console shows progress; the details go to bench.log only
    try:
        yield log
    finally:
        log.removeHandler(handler)
        handler.close()


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.fields[stage]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
    )


def export_jobs_default() -> int:
    """Exports at once: one per CPU this process may use, at most :data:`MAX_EXPORT_JOBS` (each
    conversion is mostly one busy core, and each process holds a model and a converter in memory)."""
    return max(1, min(MAX_EXPORT_JOBS, env.usable_cpus()))


def _export_group(model: str, wanted: list[tuple[str, str]], cache_dir: Path | None) -> list[Artifact | str]:
    """Export one model's artifacts in order (sources before what is derived from them); a failure
    is its message. Runs in an export process, so a converter's output capture is its own."""
    from ghostbench.exporters import export

    done: list[Artifact | str] = []
    for fmt, precision in wanted:
        try:
            done.append(export(model, fmt, precision, cache_dir=cache_dir))
        except GhostbenchError as exc:
            done.append(str(exc))
    return done


def _export_groups(
    groups: dict[str, list[tuple[str, str]]], cache_dir: Path | None, jobs: int, on_done: Callable
) -> None:
    """Each model's group in turn here (``jobs`` 1), or in ``jobs`` processes at once; a model's
    artifacts always run in order in one process, so no job waits on another's lock."""
    if jobs <= 1 or len(groups) <= 1:
        for model, wanted in groups.items():
            on_done(model, _export_group(model, wanted, cache_dir), set())
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn, not fork: this process runs the progress display's thread
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        pending = {pool.submit(_export_group, m, w, cache_dir): m for m, w in groups.items()}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                model = pending.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # the export process died (killed, out of memory)
                    result = [f"export process failed: {type(exc).__name__}: {exc}"] * len(groups[model])
                on_done(model, result, set(pending.values()))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def export_all(
    cells: list[Cell],
    settings: BenchSettings,
    progress: Progress,
) -> tuple[dict[str, Artifact], list[tuple[Cell, str]]]:
    """Export (or find in the cache) each distinct artifact once, ``settings.export_jobs`` models
    at a time; a cell whose export fails or whose parity check fails is skipped with the reason,
    the others go on."""
    from ghostbench.core.cell import ARTIFACT_FORMATS

    wanted: dict[tuple[str, str, str], list[Cell]] = {}
    for cell in cells:
        fmt = ARTIFACT_FORMATS.get(cell.backend)
        if fmt is not None:
            wanted.setdefault((cell.model, fmt, cell.precision), []).append(cell)
    groups: dict[str, list[tuple[str, str]]] = {}
    for model, fmt, precision in wanted:
        groups.setdefault(model, []).append((fmt, precision))
    for items in groups.values():
        items.sort(key=lambda item: item[1] != "fp32")  # sources first: fp16 and int8 derive from fp32
    artifacts: dict[str, Artifact] = {}
    skipped: list[tuple[Cell, str]] = []
    task = progress.add_task("", total=len(wanted), stage="export ")
    jobs = settings.export_jobs or export_jobs_default()
    started = time.perf_counter()

    def record(model: str, results: list[Artifact | str], running: set[str]) -> None:
        for (fmt, precision), result in zip(groups[model], results, strict=True):
            users = wanted[(model, fmt, precision)]
            if isinstance(result, str):
                reason = f"export failed: {result}"
                log.error("%s %s %s: %s", model, fmt, precision, reason)
                skipped.extend((cell, reason) for cell in users)
                continue
            parity = result.parity
            log.info(
                "artifact %s %s %s: %s (%.1f s into the exports, parity %s)",
                model,
                fmt,
                precision,
                result.path,
                time.perf_counter() - started,
                "none" if parity is None else f"cosine {parity.cosine:.6f} max_abs {parity.max_abs:.3g}",
            )
            if parity is not None and not parity.passed and not settings.allow_parity_failure:
                reason = (
                    f"parity check failed (cosine {parity.cosine:.6f}, max abs error {parity.max_abs:.3g}); "
                    "--allow-parity-failure times it anyway"
                )
                skipped.extend((cell, reason) for cell in users)
            else:
                for cell in users:
                    artifacts[cell.key] = result
        progress.update(task, advance=len(results), description=", ".join(sorted(running)))

    progress.update(task, description=", ".join(list(groups)[:jobs]))
    _export_groups(groups, settings.cache_dir, jobs, record)
    return artifacts, skipped


def _ms_text(x: object) -> str:
    """Milliseconds with three decimals for the summary table (its header carries the unit)."""
    return f"{x:.3f}" if finite(x) else "–"


def _summary(rows: list[dict], console: Console) -> None:
    table = Table(title="ghostbench: batch-1 latency (median over all windows)")
    for col in (
        "model",
        "family",
        "backend",
        "prec",
        "thr",
        "median (ms)",
        "p90 (ms)",
        "95% CI (ms)",
        "flags",
    ):
        table.add_column(col, justify="right" if "ms" in col or col == "thr" else "left")
    for row in sorted(rows, key=lambda r: (r["family"] or "", r["model"], r["backend"], r["precision"])):
        ident = (row["model"], row["family"], row["backend"], row["precision"], str(row["threads"]))
        if row["status"] != "ok":
            first = (row["error"] or "").splitlines()[0][:60] if row["error"] else ""
            table.add_row(*ident, "error", "", "", first)
            continue
        ci = row["ci_low_ms"], row["ci_high_ms"]
        table.add_row(
            *ident,
            _ms_text(row["median_ms"]),
            _ms_text(row["p90_ms"]),  # a phone's benchmark_model may print no percentiles: "–"
            f"{_ms_text(ci[0])}-{_ms_text(ci[1])}" if finite(ci[0]) else "–",
            row["flags"] or "",
        )
    console.print(table)


def run_plan(
    plan: Plan,
    run_dir: Path,
    settings: BenchSettings,
    *,
    resume: bool = False,
    console: Console | None = None,
    spawn: Callable | None = None,
) -> int:
    """Measure ``plan`` into ``run_dir``; returns 0 when every cell it could plan was exported and has
    an ``ok`` row (cells the plan skipped, e.g. a backend not installed, do not count), else 2."""
    console = console or progress_console()
    store = RunStore(run_dir)
    check_output_dir(run_dir)
    with store.lock(), run_log(run_dir):
        return _run(plan, store, settings, resume, console, spawn)


def _run(
    plan: Plan,
    store: RunStore,
    settings: BenchSettings,
    resume: bool,
    console: Console,
    spawn: Callable | None,
) -> int:
    done = store.done_cells() if resume else set()
    todo = [c for c in plan.cells if c.key not in done]
    skipped = [{"cell": c.key, "reason": why} for c, why in plan.skipped]
    options = {
        "device": plan.profile.device,
        "cache_dir": str(settings.cache_dir) if settings.cache_dir else None,
        "allow_parity_failure": settings.allow_parity_failure,
        "user_models": user.recorded(),  # what --resume registers again
        **settings.measure.to_dict(),
    }
    if resume:
        store.resume(options=options)
        log.info("resuming: %d of %d cells already measured", len(done), len(plan.cells))
        console.print(f"resuming {store.path}: {len(done)} of {len(plan.cells)} cells already measured")
    else:
        store.begin(
            command=settings.command,
            profile=plan.profile.name,
            options=options,
            plan=plan.cells,
            skipped=skipped,
        )
    for entry in skipped:
        log.warning("skipped %s: %s", entry["cell"], entry["reason"])
    export_skips: list[tuple[Cell, str]] = []
    with _progress(console) as progress:
        try:
            local = plan.profile.remote is None  # a board's or phone's speed is not this machine's
            if not resume and local:  # after begin: Ctrl-C here is a resumable run
                store.update_run(overhead_ns=overhead_ns())
                record_speed(store, "start")
            artifacts, export_skips = export_all(todo, settings, progress)
            if export_skips:
                run = store.read_run_json()
                known = {s["cell"] for s in run.get("skipped", [])}
                extra = [{"cell": c.key, "reason": why} for c, why in export_skips if c.key not in known]
                store.update_run(skipped=[*run.get("skipped", []), *extra])
                for entry in extra:
                    log.warning("skipped %s: %s", entry["cell"], entry["reason"])
            blocked = {c.key for c, _ in export_skips}
            todo = [c for c in todo if c.key not in blocked]
            windows = progress.add_task("", total=len(todo) * settings.measure.rounds, stage="measure")

            def started(cell: Cell, window: int) -> None:
                progress.update(
                    windows, description=f"{cell.key} (window {window + 1}/{settings.measure.rounds})"
                )

            def finished(cell: Cell, window: int, outcome) -> None:
                progress.advance(windows)
                if outcome.ok:
                    log.info("window %d of %s: %.1f s", window, cell.key, outcome.wall_s)
                else:
                    # A failed cell is not measured again: count its remaining windows as done.
                    progress.advance(windows, settings.measure.rounds - window - 1)
                    log.error("window %d of %s failed: %s", window, cell.key, outcome.error)

            def cell_done(row: dict) -> None:
                if row["status"] == "ok":
                    log.info(
                        "cell %s: median %.3f ms, p90 %.3f ms, flags %s",
                        row["cell"],
                        row["median_ms"],
                        row["p90_ms"],
                        row["flags"] or "-",
                    )
                else:
                    log.error("cell %s failed: %s", row["cell"], row["error"])

            kwargs = {"spawn": spawn} if spawn is not None else {}
            measure(
                todo,
                run_id=store.run_id,
                options=settings.measure,
                store=store,
                artifact_for=lambda cell: artifacts.get(cell.key),
                on_window_start=started,
                on_window_done=finished,
                on_cell_done=cell_done,
                cache_dir=settings.cache_dir,
                **kwargs,
            )
        except KeyboardInterrupt:
            store.update_run(status="interrupted", finished=env.now_iso())
            log.warning("interrupted by the user")
            console.print(
                f"[yellow]interrupted[/]: {len(store.done_cells())} cells kept in {store.path}; resume with\n"
                f"  ghostbench bench --resume {store.run_id} --out-dir {store.path.parent}"
            )
            raise
        except BaseException as exc:
            store.update_run(status="failed", finished=env.now_iso(), error=f"{type(exc).__name__}: {exc}")
            log.exception("run failed")
            raise
    latency = store.latency()
    if plan.profile.remote is None:
        record_speed(store, "end")
    store.update_run(status="complete", finished=env.now_iso())
    _summary(latency.to_dict("records"), console)
    failed = latency[latency["status"] != "ok"]
    for cell, why in export_skips:
        # Text, not markup: a reason may hold brackets.
        console.print(Text.assemble(("not measured", "red"), f": {cell.key}: {why.splitlines()[0]}"))
    not_exported = f", {len(export_skips)} not exported (see above)" if export_skips else ""
    console.print(f"results: {store.path} ({len(latency)} cells, {len(failed)} failed{not_exported})")
    return 0 if failed.empty and not export_skips else 2
