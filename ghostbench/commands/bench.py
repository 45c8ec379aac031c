"""Benchmark a device profile end to end: plan the cells (models x backends x precisions x
threads), export what is missing (cached), measure every cell in interleaved rounds, each window in
an isolated worker, and write results/<run_id>/ plus an HTML report in reports/.

Profiles: cpu (torch eager, ONNX Runtime, LiteRT on this CPU), gpu (torch eager fp32 and fp16,
CUDA graphs fp16, torch.compile fp16 on three models, ONNX Runtime CUDA EP and TensorRT fp32 and
fp16 where installed; each backend's CUDA windows in one warm worker, group by group), pi (LiteRT
and ONNX Runtime on a board over SSH, --host), android (LiteRT benchmark_model over adb, --serial).
Cells whose backend is not installed are skipped and listed with the reason. Ctrl-C keeps every
finished cell; --resume RUN_ID measures only the missing ones.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ghostbench.core.window import HarnessConfig

if TYPE_CHECKING:
    from rich.console import Console

    from ghostbench.bench.plan import Profile

from ghostbench.commands.options import (
    FRESH_WORKERS_HELP,
    MODELS_HELP,
    OVERSUBSCRIBE_FLAG,
    OVERSUBSCRIBE_HELP,
    add_own_model_arguments,
)

HELP = "plan, export and measure a device profile; write results/ and an HTML report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="device profile: cpu (default), gpu, pi, android")
    parser.add_argument("--models", help=f"{MODELS_HELP}; default: the profile's set")
    add_own_model_arguments(parser)
    parser.add_argument("--backends", help="comma-separated backends (default: the profile's)")
    parser.add_argument("--precisions", help="comma-separated: fp32, fp16, int8, int8_dynamic")
    parser.add_argument(
        "--threads",
        help="comma-separated intra-op thread counts (default: the profile's: 1; pi, android: 1,4)",
    )
    parser.add_argument(OVERSUBSCRIBE_FLAG, action="store_true", help=OVERSUBSCRIBE_HELP)
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="backend option (docs/backends.md, docs/devices.md) for every backend, or BACKEND.KEY=VALUE "
        "for one: onnxruntime.graph_opt=basic, tflite.xnnpack=false, android: tflite.gpu=true",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 small models, 1 round of about 1 s per cell: a smoke test in under 2 minutes",
    )
    parser.add_argument("--rounds", type=int, help="windows per cell, interleaved (default 3, quick 1)")
    parser.add_argument(
        "--time-cap", type=float, metavar="S", help="most seconds per window (default 4; gpu 2; quick 1)"
    )
    parser.add_argument(
        "--min-time", type=float, metavar="S", help="least seconds per window (default 1; gpu 0.5; quick 0.3)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, metavar="S", help="kill a window after S s")
    parser.add_argument("--fresh-workers", action="store_true", help=FRESH_WORKERS_HELP)
    parser.add_argument(
        "--export-jobs",
        type=int,
        metavar="N",
        help="models exported at once, each in its own process (default: one per usable CPU, at most 4)",
    )
    parser.add_argument("--resume", metavar="RUN_ID", help="finish an interrupted run in --out-dir")
    parser.add_argument(
        "--out-dir", type=Path, default=Path("results"), help="results root (default: results)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="artifact cache (default: $GHOSTBENCH_CACHE_DIR or user cache)"
    )
    parser.add_argument("--allow-parity-failure", action="store_true", help="time artifacts that fail parity")
    parser.add_argument("--no-report", action="store_true", help="do not write the HTML report at the end")
    parser.add_argument("--host", help="pi: the board, user@host (ssh)")
    parser.add_argument("--serial", help="android: the adb serial of the phone")
    parser.add_argument(
        "--benchmark-model",
        type=Path,
        metavar="PATH",
        help="android: TFLite's benchmark_model binary for the phone (see docs/devices.md)",
    )


def run(args: argparse.Namespace) -> int:
    from ghostbench.bench.measure import MeasureOptions
    from ghostbench.bench.orchestrate import BenchSettings, check_output_dir, progress_console, run_plan
    from ghostbench.bench.plan import Plan, get_profile, make_plan
    from ghostbench.bench.store import RunStore, create_run_dir
    from ghostbench.commands.options import backend_options, optional_items, own_models, thread_counts
    from ghostbench.core.cell import Cell
    from ghostbench.core.errors import GhostbenchError
    from ghostbench.models import user
    from ghostbench.runners.base import require_cuda

    profile = get_profile(args.device)
    if args.resume:  # a resumed run uses its recorded profile, whatever --device says
        store = RunStore(args.out_dir / args.resume)
        if not store.exists():
            raise GhostbenchError(f"no run {args.resume!r} in {args.out_dir} (no {store.path}/run.json)")
        recorded = store.read_run_json()
        profile = get_profile(recorded.get("profile", args.device))
    if profile.name == "gpu":
        require_cuda("DEVICE=gpu")
    spawn = None
    if profile.remote is not None:
        from ghostbench.worker.remote import remote_spawn

        spawn = remote_spawn(
            profile.remote,
            profile.name,
            host=args.host,
            serial=args.serial,
            benchmark_model=args.benchmark_model,
        )
    check_output_dir(args.out_dir)
    if args.export_jobs is not None and args.export_jobs < 1:
        raise GhostbenchError(f"--export-jobs must be >= 1, got {args.export_jobs}")
    quick = args.quick
    # `is None`, not `or`: an explicit 0 must reach the validation below, not become the default.
    rounds = args.rounds if args.rounds is not None else (1 if quick else 3)
    try:
        harness = window_settings(profile, quick=quick, time_cap=args.time_cap, min_time=args.min_time)
        options = MeasureOptions(
            rounds=rounds,
            harness=harness,
            timeout_s=args.timeout,
            fork_server=not args.fresh_workers,
            cuda_session=not args.fresh_workers,
            interleave=profile.interleave,
        )
    except ValueError as exc:
        raise GhostbenchError(str(exc)) from None
    if args.resume:
        run_dir = store.path
        # The recorded plan and options, not today's flags: a resumed run measures what it started,
        # from the cache it started with (an explicit --cache-dir or --allow-parity-failure wins).
        try:
            plan = Plan(profile=profile, cells=tuple(Cell.from_dict(c) for c in recorded["plan"]))
            options = MeasureOptions.from_dict(recorded["options"])
            user.restore(recorded["options"].get("user_models"))
            cache_dir = args.cache_dir or _recorded_path(recorded["options"].get("cache_dir"))
            allow_parity_failure = (
                args.allow_parity_failure or recorded["options"].get("allow_parity_failure") is True
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise GhostbenchError(f"{store.path}/run.json cannot be resumed: {exc!s}") from None
        store.done_cells()  # the tables are read (and checked) before anything is written
    else:
        backends = optional_items("--backends", args.backends)
        planned = backends or (profile.quick_backends if quick else ()) or profile.backends
        models = optional_items("--models", args.models)
        plan = make_plan(
            profile,
            models=own_models(models or (), args) or None,
            backends=backends,
            precisions=optional_items("--precisions", args.precisions),
            threads=(
                thread_counts(args.threads, device=profile.device, oversubscribe=args.oversubscribe)
                if args.threads is not None
                else None
            ),
            options=backend_options(args.option, planned),
            quick=quick,
        )
        if not plan.cells:
            reasons = "; ".join(sorted({why for _, why in plan.skipped})) or "nothing selected"
            raise GhostbenchError(f"no cell of this plan can run here: {reasons}")
        run_dir = create_run_dir(args.out_dir)
        cache_dir, allow_parity_failure = args.cache_dir, args.allow_parity_failure
    settings = BenchSettings(
        measure=options,
        cache_dir=cache_dir,
        allow_parity_failure=allow_parity_failure,
        command=["ghostbench", *sys.argv[1:]],
        export_jobs=args.export_jobs,
    )
    console = progress_console()
    code = run_plan(plan, run_dir, settings, resume=bool(args.resume), console=console, spawn=spawn)
    if not args.no_report:
        write_report(run_dir, console)
    return code


def window_settings(
    profile: Profile, *, quick: bool, time_cap: float | None, min_time: float | None
) -> HarnessConfig:
    """One window's settings: bench's defaults (time cap 4 s, minimum 1 s), then the profile's
    (``Profile.harness``), then quick's (1 s, 0.3 s), then the flags; the minimum never above the cap."""
    settings = {"time_cap_s": 4.0, "min_time_s": 1.0, **profile.harness}
    if quick:
        settings.update(time_cap_s=1.0, min_time_s=0.3)
    if time_cap is not None:
        settings["time_cap_s"] = time_cap
    if min_time is not None:
        settings["min_time_s"] = min_time
    settings["min_time_s"] = min(settings["min_time_s"], settings["time_cap_s"])
    return HarnessConfig(**settings)


def _recorded_path(value: object) -> Path | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"options.cache_dir {value!r} is not a path")
    return Path(value) if value else None


def write_report(run_dir: Path, console: Console) -> None:
    """The HTML report of the run; a report failure is logged and shown, the results stay."""
    from ghostbench.bench.orchestrate import run_log
    from ghostbench.reports import build_report

    with run_log(run_dir) as log:
        try:
            path = build_report([run_dir])
        except Exception as exc:  # the measurements are safe on disk; say why the report is missing
            log.exception("report failed")
            console.print(f"[red]report failed[/]: {exc}; retry with: ghostbench report {run_dir}")
            return
    console.print(f"report: {path}")
