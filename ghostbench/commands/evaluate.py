"""Measure top-1 and top-5 of a model with its trained weights (--weights) on an ImageNet-style
folder, through the backend that times it: the exported ONNX, TFLite or TensorRT artifact (int8 and
fp16 included) runs in the same runner as `ghostbench run`, so what is scored is what is timed.

--data is a folder of class sub-folders (sorted names -> class indices 0..N-1: it must hold every
class of the checkpoint, e.g. the 1000 ImageNet synset folders) or, with --labels FILE, the
ILSVRC2012 validation layout (all images in one folder). Images get the official evaluation
preprocessing of the model's family (e.g. resize 256, center crop 224, ImageNet mean/std), which is
recorded with the result. With --out results/RUN_ID the result is added to that run's accuracy.csv
(replacing the row of the same model, format and precision), where `ghostbench report` plots it as
measured next to the published figures. Weights never download: see docs/accuracy.md for where the
official checkpoints are published.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ghostbench.commands.options import add_own_model_arguments

if TYPE_CHECKING:
    from ghostbench.evaluate.data import Preprocessing
    from ghostbench.evaluate.infer import Classifier
    from ghostbench.evaluate.score import Tally

HELP = "top-1/top-5 of a model with trained weights on a labelled image folder, per exported artifact"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        help="registry name (e.g. ghostnet_100, see `ghostbench models`), your own package.module:callable "
        "or path/to/file.py:callable, or a .onnx / .tflite file (docs/own-models.md)",
    )
    parser.add_argument(
        "--weights",
        type=Path,
        help="checkpoint file (.pth, .pth.tar, .pyth); needed for a zoo model, optional for your own "
        "callable (it may load its weights itself), not for a model file",
    )
    parser.add_argument("--data", type=Path, required=True, help="image folder: class sub-folders, or flat")
    parser.add_argument(
        "--labels",
        type=Path,
        help="label file for a flat folder: val.txt (NAME LABEL), LOC_val_solution.csv, or the devkit's "
        "ILSVRC2012_validation_ground_truth.txt with meta.mat beside it",
    )
    parser.add_argument(
        "--format",
        "-f",
        dest="fmt",
        metavar="FORMAT",
        help="torch (default; a model file: its own format), onnx, tflite or tensorrt",
    )
    parser.add_argument(
        "--precision",
        "-p",
        help="fp32 (default; a model file: its own), fp16, int8, or int8_dynamic (tflite)",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument(
        "--threads", type=_positive, help="inference threads (default: every CPU this process may use)"
    )
    parser.add_argument("--limit", type=_positive, help="evaluate N images, spread evenly over the classes")
    parser.add_argument("--out", type=Path, help="results folder whose accuracy.csv gets the row")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="artifact cache (default: $GHOSTBENCH_CACHE_DIR or user cache)",
    )
    add_own_model_arguments(parser)


def _score(classifier: Classifier, items: tuple, recipe: Preprocessing, crop: int, what: str) -> Tally:
    """Run every image, with a progress bar (on a terminal) that shows the running top-1."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ghostbench.evaluate.infer import evaluate

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(what, total=len(items))

        def shown(tally: Tally) -> None:
            bar.update(task, advance=1, description=f"{what}: top-1 {tally.top1:.2f}%")

        return evaluate(classifier, items, recipe, crop, on_image=shown)


def run(args: argparse.Namespace) -> int:
    import datetime as dt
    import time

    from ghostbench.commands.options import own_models
    from ghostbench.core.errors import GhostbenchError
    from ghostbench.evaluate import data, infer
    from ghostbench.models import registry, weights

    (name,) = own_models([args.model], args)
    try:
        spec = registry.get(name)
    except registry.UnknownModelError as exc:
        raise GhostbenchError(str(exc)) from None
    if spec.task != "classification":
        raise GhostbenchError(f"{spec.name} is a {spec.task} model; evaluate measures classifiers")
    if spec.file is not None and args.weights is not None:
        raise GhostbenchError(f"{spec.name} is a model file: its weights are in it, --weights does not apply")
    if args.weights is None and not spec.origin:
        raise GhostbenchError(f"{spec.name} is a zoo model: give its trained weights with --weights")
    if spec.file is not None:
        args.fmt, args.precision = args.fmt or spec.file.format, args.precision or spec.file.precision
    args.fmt, args.precision = args.fmt or "torch", args.precision or "fp32"
    threads = args.threads or infer.default_threads()
    cell = infer.evaluation_cell(spec.name, args.fmt, args.precision, device=args.device, threads=threads)
    dataset = data.open_dataset(args.data, spec, args.labels)
    items = data.subset(dataset.items, args.limit)
    recipe = data.preprocessing_for(spec)
    checkpoint = weights.with_weights(spec, args.weights) if args.weights is not None else spec
    if args.out is not None:  # before hours of scoring, not after
        from ghostbench.bench.orchestrate import check_output_dir

        check_output_dir(args.out)
    what = f"{spec.name} {args.fmt} {args.precision}"
    start = time.perf_counter()
    classifier = infer.open_classifier(checkpoint, cell, cache_dir=args.cache_dir)
    artifact = classifier.artifact
    if artifact is not None and artifact.parity is not None and not artifact.parity.passed:
        cosine = artifact.parity.cosine
        print(f"WARNING: {what} artifact failed parity (cosine {cosine:.6f})", file=sys.stderr)
    runtime, version = classifier.runner.runtime, classifier.runner.version()
    try:
        tally = _score(classifier, items, recipe, spec.input_size, what)
    finally:
        classifier.close()
    row = {
        "model": spec.name,
        "format": args.fmt,
        "precision": args.precision,
        "top1": round(tally.top1, 4),
        "top5": round(tally.top5, 4),
        "n": tally.n,
        "data": str(args.data),
        "images_total": len(dataset.items),
        "labels": dataset.layout,
        "classes": spec.num_classes,
        "nonfinite": tally.nonfinite,
        "preprocessing": recipe.describe(spec.input_size),
        "weights": str(args.weights or ""),
        "weights_sha256": getattr(checkpoint, "weights_sha256", ""),
        "artifact_sha256": artifact.sha256 if artifact is not None else "",
        "backend": cell.backend,
        "runtime": runtime,
        "runtime_version": version,
        "device": cell.device,
        "threads": cell.threads,
        "evaluated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": round(time.perf_counter() - start, 2),
    }
    print(
        f"{what}: top-1 {tally.top1:.2f}%  top-5 {tally.top5:.2f}%  on {tally.n} of {len(dataset.items)} "
        f"images ({dataset.layout}; {row['preprocessing']})"
    )
    if artifact is not None:  # time exactly this file with `ghostbench run --artifact PATH`
        print(f"artifact: {artifact.path}")
    if tally.nonfinite:
        print(f"WARNING: {tally.nonfinite} image(s) had non-finite logits, scored as misses", file=sys.stderr)
    if args.out is None:
        print("not stored: give --out results/RUN_ID to add it to a run's accuracy.csv", file=sys.stderr)
        return 0
    from ghostbench.bench.store import ACCURACY_CSV, RunStore

    store = RunStore(args.out)
    with store.lock():
        store.append_accuracy(row)
    print(args.out / ACCURACY_CSV)
    return 0
