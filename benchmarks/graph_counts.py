"""The ONNX-graph counter (``ghostbench.models.graph_counts``) against the torch counter
(``ghostbench.models.complexity``) on every zoo model's exported fp32 ONNX file: relative
differences of MACs and activations, and how many fewer weights the graph holds (ghostbench's
exports fold each BatchNorm into its conv and drop zero-valued biases). Prints a Markdown table.

    python benchmarks/graph_counts.py [--models 'ghostnet_*'] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ghostbench.exporters import export
from ghostbench.exporters.cache import default_cache_dir
from ghostbench.models.graph_counts import count_onnx
from ghostbench.models import registry
from ghostbench.models.manifest import Zoo

HEADER = (
    "model",
    "MACs (torch)",
    "MACs, graph / torch - 1",
    "activations, graph / torch - 1",
    "params, graph - torch",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="*", help="names or wildcards (default: the whole zoo)")
    parser.add_argument("--cache-dir", type=Path, help="artifact cache (default: the user's)")
    args = parser.parse_args(argv)
    cache = args.cache_dir or default_cache_dir()
    names = registry.select(tuple(args.models.split(",")))
    print("| " + " | ".join(HEADER) + " |")
    print("|" + " --- |" * len(HEADER))
    worst = {"macs": 0.0, "activations": 0.0}
    for name, counts in Zoo(cache).counts(list(names)).items():
        graph = count_onnx(export(name, "onnx", "fp32", cache_dir=cache).path)
        if graph.macs is None:
            print(f"| {name} | {counts.macs:,} | {graph.why} | | |")
            continue
        dm, da = graph.macs / counts.macs - 1, graph.activations / counts.activations - 1
        worst = {
            "macs": max(worst["macs"], dm, key=abs),
            "activations": max(worst["activations"], da, key=abs),
        }
        print(f"| {name} | {counts.macs:,} | {dm:+.4%} | {da:+.4%} | {graph.params - counts.params:+,} |")
    print(f"\nlargest difference: MACs {worst['macs']:+.4%}, activations {worst['activations']:+.4%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
