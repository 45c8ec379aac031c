"""Export a model to ONNX, TFLite (LiteRT) or a TensorRT engine, cached by content, and check its
numeric parity against PyTorch eager on a fixed-seed input.

Prints one summary line per artifact (format, precision, size in MB, export time in s, parity:
cosine similarity, max abs error, max error relative to the output's largest |logit|) and, for a
single model, the artifact path as the last line of stdout. A cached artifact is reused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ghostbench.commands.options import add_own_model_arguments, model_name

if TYPE_CHECKING:
    from ghostbench.core.artifact import Artifact
    from ghostbench.models.registry import ModelSpec

HELP = "export a model (or --all) to onnx, tflite or tensorrt, cached, with a parity check"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        nargs="?",
        type=model_name,
        help="registry name (e.g. ghostnet_100, see `ghostbench models`) or your own package.module:callable "
        "or path/to/file.py:callable (docs/own-models.md)",
    )
    parser.add_argument("--all", action="store_true", help="export every registered model")
    parser.add_argument(
        "--format", "-f", required=True, dest="fmt", metavar="FORMAT", help="onnx, tflite or tensorrt"
    )
    parser.add_argument(
        "--precision",
        "-p",
        default="fp32",
        metavar="PRECISION",
        help="fp32 (default), fp16, int8, or int8_dynamic (tflite)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="artifact cache (default: $GHOSTBENCH_CACHE_DIR or user cache)",
    )
    parser.add_argument("--seed", type=int, default=0, help="weight and input seed (default: 0)")
    parser.add_argument(
        "--layout", choices=("nhwc", "nchw"), default=None, help="tflite input layout (default: nhwc)"
    )
    parser.add_argument(
        "--no-parity", action="store_true", help="skip the parity check against PyTorch eager"
    )
    add_own_model_arguments(parser)


def summary(artifact: Artifact, cached: bool) -> str:
    """One line: model, format, precision, size (MB), export time (s), TRANSPOSE count, parity."""
    how = "cache hit" if cached else "exported"
    line = (
        f"{artifact.model} {artifact.format} {artifact.precision}: {artifact.size_bytes / 1e6:.1f} MB, "
        f"{how} (export {artifact.export_s:.1f} s)"
    )
    if "transpose_ops" in artifact.meta:
        line += f", {artifact.meta['transpose_ops']} TRANSPOSE"
    p = artifact.parity
    if p is None:
        return f"{line}, parity not checked"
    verdict = "ok" if p.passed else "FAILED"
    return f"{line}, parity cos {p.cosine:.6f} max_abs {p.max_abs:.2e} max_rel {p.max_rel:.2e} [{verdict}]"


def run(args: argparse.Namespace) -> int:
    from ghostbench.commands.options import own_models
    from ghostbench.core.errors import GhostbenchError
    from ghostbench.exporters import ExportError, cache, export_status
    from ghostbench.models import registry

    if args.all == bool(args.model):
        raise GhostbenchError("give one MODEL or --all")
    if args.model:
        (args.model,) = own_models([args.model], args)
    else:
        own_models([], args)
    if args.layout and args.fmt != "tflite":
        raise GhostbenchError("--layout applies to --format tflite only")
    options = {"layout": args.layout} if args.layout else {}
    cache_dir = args.cache_dir or cache.default_cache_dir()
    kwargs = {"cache_dir": cache_dir, "seed": args.seed, "options": options}

    def one(name: str | ModelSpec) -> tuple[Artifact, bool]:
        return export_status(name, args.fmt, args.precision, check_parity=not args.no_parity, **kwargs)

    if not args.all:
        artifact, cached = one(args.model)
        print(summary(artifact, cached))
        if artifact.parity is not None and not artifact.parity.passed:
            print(
                f"WARNING: {artifact.model} {artifact.format} {artifact.precision} failed parity",
                file=sys.stderr,
            )
        print(artifact.path)
        return 0

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ghostbench.bench.console import terminal

    names = registry.select("*")
    failures: list[str] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    console = terminal()  # keeps drawing while the converters' output goes to export.log
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(f"{args.fmt} {args.precision}", total=len(names))
        for name in names:
            progress.update(task, description=f"{args.fmt} {args.precision} {name}")
            try:  # the spec, not the name: building every model needs the registry (and torch) anyway
                artifact, cached = one(registry.get(name))
            except ExportError as exc:
                failures.append(str(exc))
                progress.console.print(f"ERROR: {exc}", markup=False, highlight=False, soft_wrap=True)
            else:
                progress.console.print(
                    summary(artifact, cached), markup=False, highlight=False, soft_wrap=True
                )
            progress.advance(task)
    done = len(names) - len(failures)
    print(f"{done}/{len(names)} models exported to {args.fmt} {args.precision} in {cache_dir}")
    for failure in failures:
        print(f"ERROR: {failure}", file=sys.stderr)
    return 2 if failures else 0
