"""Measure the batch-1 latency of models x backends on this machine.

Every cell (model, backend, device, precision, threads) is measured in ROUNDS windows, each in a
fresh worker process (on CPU forked from a warm server; --fresh-workers: a new interpreter):
load, first inference, warm-up until the latency settles, then timed iterations until the 95%
confidence interval of the median is within +/- TARGET_PCT % (after at least MIN_TIME seconds)
or TIME_CAP seconds pass. The cells are interleaved in every round. ONNX and TFLite files come
from the artifact cache (`ghostbench export`), or from --artifact.

Writes OUT/run.json, OUT/latency.csv, OUT/latency.parquet and OUT/samples.parquet
(docs/results-schema.md). Re-running with the same --out keeps the cells already measured.
Exit 0 when every cell was measured, 2 on bad input or when a cell failed (its row says why).
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ghostbench.core.artifact import Artifact
    from ghostbench.core.cell import Cell

from ghostbench.commands.options import (
    FRESH_WORKERS_HELP,
    MODELS_HELP,
    OVERSUBSCRIBE_FLAG,
    OVERSUBSCRIBE_HELP,
    add_own_model_arguments,
)

HELP = "measure latency of models x backends here (writes results/RUN_ID)"
# File suffix -> artifact format, for --artifact.
SUFFIX_FORMATS: dict[str, str] = {
    ".onnx": "onnx",
    ".tflite": "tflite",
    ".engine": "tensorrt",
    ".plan": "tensorrt",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", required=True, help=MODELS_HELP)
    add_own_model_arguments(parser)
    parser.add_argument(
        "--backends",
        required=True,
        help="comma-separated: torch, torch_compile, torch_cudagraph, onnxruntime, tflite, tensorrt, null",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--threads", default="1", help="intra-op threads, comma-separated (default: 1)")
    parser.add_argument(OVERSUBSCRIBE_FLAG, action="store_true", help=OVERSUBSCRIBE_HELP)
    parser.add_argument(
        "--precision", default="fp32", help="fp32 (default), fp16, int8, int8_dynamic; commas"
    )
    parser.add_argument(
        "--time-cap",
        type=float,
        default=10.0,
        metavar="S",
        help="most seconds of timing per window (default 10)",
    )
    parser.add_argument(
        "--min-time",
        type=float,
        default=1.0,
        metavar="S",
        help="least seconds of timing per window (default 1)",
    )
    parser.add_argument(
        "--target-pct",
        type=float,
        default=1.0,
        metavar="PCT",
        help="stop when the median's 95%% CI is within +/- PCT %% (default 1)",
    )
    parser.add_argument("--rounds", type=int, default=3, metavar="R", help="windows per cell (default 3)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="S",
        help="kill a window's worker after S s (default 300)",
    )
    parser.add_argument("--fresh-workers", action="store_true", help=FRESH_WORKERS_HELP)
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backend option (docs/backends.md) for every backend, or BACKEND.KEY=VALUE for one: "
        "onnxruntime.graph_opt=basic, tflite.xnnpack=false, torch.channels_last=true",
    )
    parser.add_argument(
        "--artifact", type=Path, help="time this .onnx/.tflite/.engine file (one model, one backend)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="artifact cache (default: $GHOSTBENCH_CACHE_DIR or user cache)"
    )
    parser.add_argument("--out", type=Path, help="results folder (default: results/<UTC time>-<host>)")


def plan(args: argparse.Namespace) -> list[Cell]:
    """The cells of this run (``make_plan`` on a profile made of the flags), every one validated:
    backend, device, precision, options, libraries. A cell that cannot run here is an error."""
    from ghostbench.bench.plan import Profile, make_plan
    from ghostbench.commands.options import backend_options, csv_items, own_models, thread_counts
    from ghostbench.core.cell import LOCAL_DEVICES, PRECISIONS
    from ghostbench.core.errors import GhostbenchError
    from ghostbench.runners.base import require_cuda

    if args.device not in LOCAL_DEVICES:
        raise GhostbenchError(
            f"unknown device {args.device!r}; valid: {', '.join(LOCAL_DEVICES)} "
            "(boards and phones: ghostbench bench --device pi|android)"
        )
    if args.device == "cuda":
        require_cuda()
    backends, precisions = csv_items(args.backends), csv_items(args.precision)
    for precision in precisions:
        if precision not in PRECISIONS:
            raise GhostbenchError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    models = own_models(csv_items(args.models), args)
    if not models or not backends or not precisions:
        raise GhostbenchError("--models, --backends and --precision must each name at least one")
    flags = Profile(name="run", device=args.device, backends=backends, models=models, precisions=precisions)
    planned = make_plan(
        flags,
        threads=thread_counts(args.threads, device=args.device, oversubscribe=args.oversubscribe),
        options=backend_options(args.option, backends),
    )
    if planned.skipped:
        raise GhostbenchError(planned.skipped[0][1])
    return list(planned.cells)


def user_artifact(path: Path, cells: list[Cell]) -> Artifact:
    """An :class:`Artifact` for a file the user exported, after checking it fits the cells."""
    from ghostbench.core.artifact import Artifact
    from ghostbench.core.cell import ARTIFACT_FORMATS
    from ghostbench.core.errors import GhostbenchError
    from ghostbench.exporters.cache import file_sha256

    if not path.is_file():
        raise GhostbenchError(f"artifact not found: {path}")
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise GhostbenchError(
            f"--artifact {path}: unknown suffix; expected one of {', '.join(SUFFIX_FORMATS)}"
        )
    if len({(c.model, c.backend, c.precision) for c in cells}) != 1:
        raise GhostbenchError("--artifact needs exactly one model, one backend and one precision")
    cell = cells[0]
    if ARTIFACT_FORMATS.get(cell.backend) != fmt:
        raise GhostbenchError(
            f"--artifact {path.name} is a {fmt} file; backend {cell.backend!r} cannot run it"
        )
    sha = file_sha256(path)
    _check_sidecar(path, sha, cell, fmt)
    return Artifact(
        model=cell.model,
        format=fmt,
        precision=cell.precision,
        path=path.resolve(),
        sha256=sha,
        key=f"user-{sha[:16]}",
        size_bytes=path.stat().st_size,
        meta={"source": "user"},
    )


def _check_sidecar(path: Path, sha: str, cell: Cell, fmt: str) -> None:
    """A file from the artifact cache (or a copy with its ``artifact.json``) says what it was
    exported from; timing it under another model's or precision's name would mislabel the row."""
    import json

    from ghostbench.core.errors import GhostbenchError
    from ghostbench.exporters.cache import SIDECAR

    try:
        claim = json.loads((path.parent / SIDECAR).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return  # no readable sidecar: nothing claims otherwise
    if not isinstance(claim, dict) or claim.get("sha256") != sha:
        return  # a sidecar about another file
    said = tuple(str(claim.get(k)) for k in ("model", "format", "precision"))
    asked = (cell.model, fmt, cell.precision)
    if said != asked:
        raise GhostbenchError(
            f"--artifact {path}: its {SIDECAR} says it is {' '.join(said)}, "
            f"this run asks for {' '.join(asked)}"
        )


def _line(row: dict) -> str:
    if row["status"] != "ok":
        return f"{row['cell']}: ERROR {row['error'].splitlines()[0] if row['error'] else ''}"
    flags = f"  [{row['flags']}]" if row["flags"] else ""
    return (
        f"{row['cell']}: median {row['median_ms']:.3f} ms, "
        f"95% CI [{row['ci_low_ms']:.3f}, {row['ci_high_ms']:.3f}] ms, p90 {row['p90_ms']:.3f} ms, "
        f"n={row['n']} over {row['windows']} windows (spread {row['window_spread'] * 100:.1f}%), "
        f"load {row['load_ms']:.0f} ms, first {row['first_ms']:.1f} ms{flags}"
    )


# Settings every row of one results folder must share (cell options are part of each cell's key).
SHARED_SETTINGS = ("device", "artifact")


def _check_same_settings(out: Path, previous: dict, current: dict) -> None:
    """More cells into an existing folder, yes; the same folder with other measurement settings,
    no: its rows would no longer say how they were measured."""
    from ghostbench.core.errors import GhostbenchError

    keys = [k for k in current if k in SHARED_SETTINGS or k in previous]
    changed = [f"{k} {previous.get(k)!r} -> {current[k]!r}" for k in keys if previous.get(k) != current[k]]
    if changed:
        raise GhostbenchError(
            f"{out} holds cells measured with other settings ({'; '.join(changed)}); use another --out"
        )


def run(args: argparse.Namespace) -> int:
    from ghostbench.bench.measure import MeasureOptions, measure, overhead_ns, record_speed
    from ghostbench.bench.store import RunStore, create_run_dir
    from ghostbench.core.cell import ARTIFACT_FORMATS, Cell
    from ghostbench.core.errors import GhostbenchError
    from ghostbench.core.window import HarnessConfig
    from ghostbench.exporters import export
    from ghostbench.worker import env

    cells = plan(args)
    artifact = user_artifact(args.artifact, cells) if args.artifact is not None else None
    try:
        harness = HarnessConfig(
            time_cap_s=args.time_cap,
            min_time_s=min(args.min_time, args.time_cap),
            target=args.target_pct / 100,
        )
        options = MeasureOptions(
            rounds=args.rounds,
            harness=harness,
            timeout_s=args.timeout,
            fork_server=not args.fresh_workers,
            cuda_session=not args.fresh_workers,
        )
    except ValueError as exc:
        raise GhostbenchError(str(exc)) from None

    @functools.cache  # cells that differ only in threads or options share one artifact
    def exported(model: str, fmt: str, precision: str) -> Artifact:
        return export(model, fmt, precision, cache_dir=args.cache_dir)

    def artifact_for(cell: Cell) -> Artifact | None:
        fmt = ARTIFACT_FORMATS.get(cell.backend)
        if fmt is None:
            return None
        return artifact if artifact is not None else exported(cell.model, fmt, cell.precision)

    out = args.out or create_run_dir("results")
    store = RunStore(out)
    with store.lock():
        done = store.done_cells() if store.exists() else set()
        todo = [c for c in cells if c.key not in done]
        command = ["ghostbench", *sys.argv[1:]]
        recorded = {"device": args.device, "artifact": str(args.artifact) if args.artifact else None}
        recorded |= options.to_dict()
        if store.exists():
            previous = store.read_run_json()
            _check_same_settings(out, previous.get("options", {}), recorded)
            planned = {Cell.from_dict(c).key: c for c in previous.get("plan", [])}
            planned.update({c.key: c.to_dict() for c in cells})
            print(f"resuming {out}: {len(done)} of {len(cells)} cells already measured", file=sys.stderr)
            store.resume(command=command, options=recorded, plan=list(planned.values()))
        else:
            store.begin(command=command, options=recorded, plan=cells, overhead_ns=overhead_ns())
            record_speed(store, "start")
        total = len(todo) * options.rounds
        progress = {"window": 0}

        def started(cell: Cell, window: int) -> None:
            progress["window"] += 1
            print(
                f"[{progress['window']}/{total}] {cell.key} window {window + 1}/{options.rounds}",
                file=sys.stderr,
            )

        try:
            rows = measure(
                todo,
                run_id=store.run_id,
                options=options,
                store=store,
                artifact_for=artifact_for,
                on_window_start=started,
                on_cell_done=lambda row: print(_line(row), flush=True),
                cache_dir=args.cache_dir,
            )
        except KeyboardInterrupt:
            store.update_run(status="interrupted", finished=env.now_iso())
            raise
        except BaseException:
            store.update_run(status="failed", finished=env.now_iso())
            raise
        record_speed(store, "end")
        store.update_run(status="complete", finished=env.now_iso())
        print(f"results: {out}")
        failed = [r for r in rows if r["status"] != "ok"]
        if failed:
            raise GhostbenchError(f"{len(failed)} of {len(rows)} cells failed (reasons in {out}/latency.csv)")
        return 0
