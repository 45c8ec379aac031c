"""Score images through the runner that times the same artifact, so what is timed is what is scored.

A :class:`Classifier` exports the model (with its checkpoint weights; cached like every export),
loads it in the backend's runner with ``load`` and ``prepare`` exactly as a timed cell does, then
per image calls the runner's ``set_input``, ``run_once`` and ``output``. Images are decoded and
preprocessed on a few threads ahead of the model (PIL releases the GIL while decoding).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ghostbench.core.cell import ARTIFACT_FORMATS
from ghostbench.evaluate.data import Preprocessing, load_image
from ghostbench.evaluate.score import Tally

if TYPE_CHECKING:
    from ghostbench.core.artifact import Artifact
    from ghostbench.core.cell import Cell
    from ghostbench.models.registry import ModelSpec
    from ghostbench.runners.base import Runner

# Format -> the backend that runs it: torch builds the model itself, the others run an artifact.
FORMAT_BACKENDS: dict[str, str] = {"torch": "torch", **{fmt: b for b, fmt in ARTIFACT_FORMATS.items()}}
SEED = 0  # export and example-input seed; the checkpoint replaces the seeded weights


def default_threads() -> int:
    """Every CPU this process may use: accuracy does not depend on it, evaluation time does."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class Classifier:
    """A loaded runner that maps one preprocessed NCHW image to float32 logits."""

    cell: Cell
    runner: Runner
    artifact: Artifact | None  # None for torch: the runner builds the model

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from ghostbench.core.inputs import from_runtime_output

        self.runner.set_input(x)
        self.runner.run_once()
        meta = self.artifact.meta if self.artifact is not None else {}
        return from_runtime_output(self.runner.output(), meta).ravel()

    def close(self) -> None:
        self.runner.close()


def evaluation_cell(model: str, fmt: str, precision: str, *, device: str = "cpu", threads: int = 1) -> Cell:
    """The cell that runs ``model`` as ``fmt`` at ``precision``, after the checks that need no export
    (format, precision, device, the backend's library): bad input fails before anything slow."""
    from ghostbench.core.cell import Cell
    from ghostbench.core.errors import GhostbenchError
    from ghostbench.exporters import resolve_options
    from ghostbench.runners import runner_class

    if fmt not in FORMAT_BACKENDS:
        raise GhostbenchError(f"unknown format {fmt!r}; formats: {', '.join(FORMAT_BACKENDS)}")
    cell = Cell(model, FORMAT_BACKENDS[fmt], device=device, precision=precision, threads=threads)
    if fmt != "torch":
        resolve_options(fmt, precision)
    runner_class(cell.backend).check(cell)
    return cell


def open_classifier(spec: ModelSpec, cell: Cell, *, cache_dir: Path | None = None) -> Classifier:
    """Export ``spec`` for ``cell`` (cached, parity-checked; see :func:`evaluation_cell`) and load it in
    the cell's runner, as a timed cell is loaded."""
    from ghostbench.exporters import export
    from ghostbench.runners import runner_class

    cls = runner_class(cell.backend)
    fmt = ARTIFACT_FORMATS.get(cell.backend)
    if fmt is None:  # torch: the runner builds the network
        runner, artifact = cls(build=lambda _cell: spec.build(seed=SEED)), None
    else:
        runner, artifact = cls(), export(spec, fmt, cell.precision, cache_dir=cache_dir, seed=SEED)
    runner.load(cell, artifact)
    runner.prepare(SEED)
    return Classifier(cell, runner, artifact)


def _prefetch(
    items: Iterable[tuple[Path, int]], recipe: Preprocessing, crop: int, workers: int
) -> Iterator[tuple[np.ndarray, int]]:
    """Preprocessed images in order, at most ``2 * workers`` decoded ahead (bounded memory)."""
    pending: deque[tuple[Future[np.ndarray], int]] = deque()
    todo = iter(items)
    with ThreadPoolExecutor(workers) as pool:

        def submit() -> None:
            item = next(todo, None)
            if item is not None:
                pending.append((pool.submit(load_image, item[0], recipe, crop), item[1]))

        for _ in range(2 * workers):
            submit()
        while pending:
            future, label = pending.popleft()
            submit()
            yield future.result(), label


def evaluate(
    classifier: Callable[[np.ndarray], np.ndarray],
    items: Iterable[tuple[Path, int]],
    recipe: Preprocessing,
    crop: int,
    *,
    workers: int = 2,
    on_image: Callable[[Tally], None] | None = None,
) -> Tally:
    """Top-1/top-5 of ``classifier`` over ``items``; ``on_image`` sees the tally after each image."""
    tally = Tally()
    for x, label in _prefetch(items, recipe, crop, workers):
        tally.add(classifier(x), label)
        if on_image is not None:
            on_image(tally)
    return tally
