"""The graph counters (``ghostbench.models.graph_counts``) against the torch counter
(``ghostbench.models.complexity``) on every zoo model: relative differences of MACs and activations
on the exported fp32 ONNX and TFLite files, how many fewer weights those graphs hold (ghostbench's
exports fold each BatchNorm into its conv), and whether an unfolded ONNX graph (torch's own
exporter, ``dynamo=True, optimize=False``: BatchNormalization nodes kept) holds exactly the torch
parameters. Prints a Markdown table; every params mismatch is listed after it.

YOLOv8's activations are larger in the graphs by its DFL decoder's ``nn.functional.conv2d``
(4 x 8400 outputs at 640 px): a Conv in the graph, unseen by the torch counter's module hooks. Its
folded graphs also hold the anchor strides (a constant of 8400 elements multiplied in), which a
graph cannot tell from a learned scale; the unfolded graph computes them, so its params are exact.

    python benchmarks/graph_counts.py [--models 'ghostnet_*'] [--cache-dir DIR] [--no-tflite]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import warnings
from pathlib import Path

from ghostbench.exporters import export
from ghostbench.exporters.cache import default_cache_dir
from ghostbench.models import registry
from ghostbench.models.graph_counts import GraphCounts, count_onnx, count_tflite
from ghostbench.models.manifest import Counts, Zoo

HEADER = (
    "model",
    "MACs (torch)",
    "ONNX MACs / torch - 1",
    "ONNX activations / torch - 1",
    "ONNX params - torch",
    "TFLite MACs / torch - 1",
    "TFLite activations / torch - 1",
    "TFLite params - torch",
    "unfolded ONNX params - torch",
)


def unfolded_params(name: str, folder: Path) -> GraphCounts:
    """Counts of the model exported by torch without constant folding, so each BatchNorm stays a
    node with its own scale and bias: the graph then holds every torch parameter."""
    import torch

    spec = registry.get(name)
    model = spec.build(seed=0).eval()
    x = torch.randn(1, 3, spec.input_size, spec.input_size)
    path = folder / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (x,), str(path), dynamo=True, optimize=False, external_data=False, verbose=False
        )
    return count_onnx(path)


def _diffs(graph: GraphCounts, counts: Counts) -> tuple[float, float] | None:
    if graph.macs is None or graph.activations is None:
        return None
    return graph.macs / counts.macs - 1, graph.activations / counts.activations - 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="*", help="names or wildcards (default: the whole zoo)")
    parser.add_argument("--cache-dir", type=Path, help="artifact cache (default: the user's)")
    parser.add_argument("--no-tflite", action="store_true", help="skip the TFLite exports")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the exporters' progress would break the table
    cache = args.cache_dir or default_cache_dir()
    names = registry.select(tuple(args.models.split(",")))
    print("| " + " | ".join(HEADER) + " |")
    print("|" + " --- |" * len(HEADER))
    worst = {key: 0.0 for key in ("onnx macs", "onnx activations", "tflite macs", "tflite activations")}
    uncounted: list[str] = []
    mismatches: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, counts in Zoo(cache).counts(list(names)).items():
            cells = [name, f"{counts.macs:,}"]
            graphs = {"onnx": count_onnx(export(name, "onnx", "fp32", cache_dir=cache).path)}
            if not args.no_tflite:
                graphs["tflite"] = count_tflite(export(name, "tflite", "fp32", cache_dir=cache).path)
            for fmt in ("onnx", "tflite"):
                graph = graphs.get(fmt)
                diffs = _diffs(graph, counts) if graph is not None else None
                if diffs is None:
                    cells += ["", "", ""] if graph is None else [graph.why, "", ""]
                    if graph is not None:
                        uncounted.append(f"{name} {fmt}: {graph.why}")
                    continue
                for key, diff in zip(("macs", "activations"), diffs, strict=True):
                    worst[f"{fmt} {key}"] = max(worst[f"{fmt} {key}"], diff, key=abs)
                cells += [f"{diffs[0]:+.4%}", f"{diffs[1]:+.4%}", f"{graph.params - counts.params:+,}"]
            unfolded = unfolded_params(name, Path(tmp))
            cells.append(f"{unfolded.params - counts.params:+,}")
            if unfolded.params != counts.params:
                mismatches.append(f"{name}: graph {unfolded.params:,}, torch {counts.params:,}")
            print("| " + " | ".join(cells) + " |", flush=True)
    print("\nlargest difference: " + ", ".join(f"{key} {value:+.4%}" for key, value in worst.items()))
    for line in uncounted:
        print(f"not counted: {line}")
    print(f"unfolded ONNX params equal torch's for {len(names) - len(mismatches)} of {len(names)} models")
    for line in mismatches:
        print(f"params mismatch: {line}")
    return 1 if mismatches or uncounted else 0


if __name__ == "__main__":
    sys.exit(main())
