"""ghostbench's GPU latency against what nobody here wrote: PyTorch's own harness, a plain
``torch.cuda.synchronize()`` loop, and timm's definitions of three of the zoo's models.

For each of three models, in one process, interleaved (three rounds of: ghostbench's harness and
torch runner with CUDA events, ``torch.utils.benchmark.Timer(...).blocked_autorange()``, a wall-clock
loop that synchronizes after every call), torch eager fp32, batch 1: each method's median over its
rounds and ghostbench's ratio to each (the acceptance is within 3 %). Then timm's ``ghostnet_100``,
``regnetx_032`` and ``mobilenetv3_large_100`` against ghostbench's: parameter counts, and the latency
ratio next to the round-to-round spread of each (the noise it has to be within).

What the three clocks mean: CUDA events bracket one inference on the stream, the gaps where the
GPU waits for the CPU's launches included; the synchronize loop adds the first launch and the
wake-up from the synchronize on the host; Timer's blocks run calls back to back with one
synchronize per block, so the CPU may launch the next inference while the GPU finishes the last.

    python benchmarks/gpu_references.py --out references.json            # on a GPU
    python benchmarks/gpu_references.py --out references.json --device cpu   # rehearsal, host clock
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ghostbench.core.cell import Cell
from ghostbench.core.window import HarnessConfig
from ghostbench.models import registry
from ghostbench.runners.torch_runner import WEIGHTS_SEED, TorchRunner
from ghostbench.worker.harness import measure_window

MODELS: tuple[str, ...] = ("ghostnet_100", "regnetx_032", "mobilenetv3_large_100")
# timm registers these three under the same names (timm is in the GPU image).
# The GPU profile's window (bench/plan.py), and the same length for the two other methods.
HARNESS = HarnessConfig(warmup_min_s=0.2, min_time_s=0.5, time_cap_s=2.0)
ROUNDS = 3
TOLERANCE = 0.03


def ghostbench_ms(module: torch.nn.Module, cell: Cell) -> float:
    """The median of one ghostbench window of ``module`` (the harness and torch runner a bench
    worker runs, in this process)."""
    runner = TorchRunner(build=lambda _cell: module)
    try:
        window = measure_window(runner, cell, None, HARNESS)
    finally:
        runner.close()
    return statistics.median(window.samples_ns) / 1e6


def timer_ms(module: torch.nn.Module, x: torch.Tensor) -> float:
    """PyTorch's harness: the median of ``blocked_autorange`` blocks (each block's mean per call)."""
    from torch.utils.benchmark import Timer

    def call() -> None:
        with torch.inference_mode():
            module(x)

    timer = Timer(stmt="call()", globals={"call": call}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=HARNESS.min_time_s).median * 1e3


def sync_loop_ms(module: torch.nn.Module, x: torch.Tensor) -> float:
    """Host wall clock around each call, synchronizing after it: the median call."""
    cuda = x.is_cuda
    times = []
    with torch.inference_mode():
        for _ in range(HARNESS.warmup_min_iters):
            module(x)
        if cuda:
            torch.cuda.synchronize()
        end = time.perf_counter() + HARNESS.min_time_s
        while time.perf_counter() < end or len(times) < HARNESS.min_samples:
            start = time.perf_counter_ns()
            module(x)
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1e6


def _input(model: str, device: str) -> torch.Tensor:
    from ghostbench.runners.base import example_input

    return example_input(model, 0).to(device)


def _spread(values: list[float]) -> float:
    return max(values) / min(values) - 1


def interleaved(methods: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """:data:`ROUNDS` rounds of every method, each round starting one method later, so no method
    always runs first (right after a model build) or last."""
    names = list(methods)
    seen: dict[str, list[float]] = {name: [] for name in names}
    for r in range(ROUNDS):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            seen[name].append(methods[name]())
    return seen


def harnesses(device: str, models: tuple[str, ...] = MODELS) -> list[dict]:
    rows = []
    for name in models:
        module = registry.get(name).build(seed=WEIGHTS_SEED).eval().to(device)
        x = _input(name, device)
        cell = Cell(name, "torch", device=device)
        methods = {
            "ghostbench": lambda m=module, c=cell: ghostbench_ms(m, c),
            "timer": lambda m=module, t=x: timer_ms(m, t),
            "sync_loop": lambda m=module, t=x: sync_loop_ms(m, t),
        }
        seen = interleaved(methods)
        medians = {k: statistics.median(v) for k, v in seen.items()}
        row = {"model": name, "rounds_ms": seen, "median_ms": medians}
        for ref in ("timer", "sync_loop"):
            ratio = medians["ghostbench"] / medians[ref]
            row[f"ratio_{ref}"] = ratio
            row[f"within_{ref}"] = abs(ratio - 1) <= TOLERANCE
        rows.append(row)
        print(
            f"{name}: ghostbench {medians['ghostbench']:.3f} ms, Timer {medians['timer']:.3f} ms "
            f"(ratio {row['ratio_timer']:.3f}), sync loop {medians['sync_loop']:.3f} ms "
            f"(ratio {row['ratio_sync_loop']:.3f})",
            flush=True,
        )
    return rows


def timm_models(device: str, models: tuple[str, ...] = MODELS) -> list[dict] | dict:
    try:
        import timm
    except ImportError as exc:
        return {"skipped": f"timm is not installed here ({exc})"}
    rows = []
    for name in models:
        timm_name = name
        ours = registry.get(name).build(seed=WEIGHTS_SEED).eval().to(device)
        theirs = timm.create_model(timm_name, pretrained=False).eval().to(device)
        params = {
            "ghostbench": sum(p.numel() for p in ours.parameters()),
            "timm": sum(p.numel() for p in theirs.parameters()),
        }
        cell = Cell(name, "torch", device=device)
        seen = interleaved(
            {
                "ghostbench": lambda m=ours, c=cell: ghostbench_ms(m, c),
                "timm": lambda m=theirs, c=cell: ghostbench_ms(m, c),
            }
        )
        medians = {k: statistics.median(v) for k, v in seen.items()}
        ratio = medians["ghostbench"] / medians["timm"]
        noise = max(_spread(v) for v in seen.values())
        rows.append(
            {
                "model": name,
                "timm_model": timm_name,
                "timm_version": timm.__version__,
                "params": params,
                "params_equal": params["ghostbench"] == params["timm"],
                "rounds_ms": seen,
                "median_ms": medians,
                "ratio": ratio,
                "noise": noise,
                "within_noise": abs(ratio - 1) <= noise,
            }
        )
        print(
            f"{name}: params ours {params['ghostbench']:,} timm {params['timm']:,}; latency ours "
            f"{medians['ghostbench']:.3f} ms timm {medians['timm']:.3f} ms, ratio {ratio:.3f} "
            f"(round-to-round spread {noise:.1%})",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the results")
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu to rehearse")
    parser.add_argument("--models", default=",".join(MODELS), help=f"default: {','.join(MODELS)}")
    args = parser.parse_args(argv)
    models = tuple(args.models.split(","))
    torch.set_num_threads(1)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU here; rehearse with --device cpu", file=sys.stderr)
        return 2
    result = {
        "device": args.device,
        "device_name": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "harness": HARNESS.to_dict(),
        "rounds": ROUNDS,
        "tolerance": TOLERANCE,
        "harnesses": harnesses(args.device, models),
        "timm": timm_models(args.device, tuple(m for m in models if m in MODELS)),
    }
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
