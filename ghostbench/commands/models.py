"""List the model zoo: family, input size, parameters, multiply-accumulates (MACs, what the
GhostNet papers call FLOPs), activations (conv output elements, Radosavovic et al. 2020) and the
published top-1 accuracy with its source. Complexity is computed from the real networks, once per
version of their definitions (kept in the zoo manifest of the artifact cache)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import TYPE_CHECKING

from ghostbench.commands.options import model_name

if TYPE_CHECKING:
    from ghostbench.models.manifest import Zoo

HELP = "list models with params, MACs, activations and published top-1"
FORMATS = ("table", "csv", "json")
CSV_COLUMNS = ("name", "family", "input_size", "params", "macs", "activations", "top1", "top1_source")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--family", help="only this family (e.g. c-ghost, g-ghost, regnet, mobilenet)")
    parser.add_argument(
        "--include",
        default="*",
        help="comma-separated names or wildcards (default: all), e.g. 'ghostnet_*,regnetx_032'",
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument(
        "--layers",
        metavar="MODEL",
        type=model_name,
        help="print the per-layer breakdown (params, MACs, activations) of one model instead",
    )


def _rows(zoo: Zoo, names: list[str]) -> list[dict]:
    counts = zoo.counts(names)
    rows = []
    for name in names:
        entry = zoo.get(name)
        rows.append(
            {
                "name": name,
                "family": entry.family,
                "input_size": entry.input_size,
                "params": counts[name].params,
                "macs": counts[name].macs,
                "activations": counts[name].activations,
                "top1": entry.top1,
                "top1_source": entry.top1_source,
            }
        )
    return rows


def _print_table(rows: list[dict]) -> None:
    """A readable table; long source citations become numbered footnotes below it."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title="ghostbench models",
        caption=(
            'batch 1 at px x px; MACs = multiply-accumulates (the papers\' "FLOPs"); '
            "acts = conv output elements"
        ),
    )
    for col in ("model", "family", "px", "params (M)", "MACs (M)", "acts (M)", "top-1 (%)"):
        table.add_column(col, justify="left" if col in ("model", "family") else "right", no_wrap=True)
    sources: list[str] = []
    for r in rows:
        top1 = ""
        if r["top1"] is not None:
            if r["top1_source"] not in sources:
                sources.append(r["top1_source"])
            top1 = f"{r['top1']:.1f} [{sources.index(r['top1_source']) + 1}]"
        table.add_row(
            r["name"],
            r["family"],
            str(r["input_size"]),
            f"{r['params'] / 1e6:.2f}",
            f"{r['macs'] / 1e6:.1f}",
            f"{r['activations'] / 1e6:.2f}",
            top1,
        )
    console = Console()
    console.print(table)
    for i, source in enumerate(sources, 1):
        console.print(f"[{i}] {source}", highlight=False, markup=False)


def _print_layers(name: str, fmt: str) -> None:
    from ghostbench.models import complexity, registry

    spec = registry.get(name)
    layers = complexity.per_layer(spec.build(), spec.input_size)
    if fmt == "json":
        json.dump([layer.__dict__ for layer in layers], sys.stdout, indent=1)
        print()
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["layer", "kind", "output_shape", "params", "macs", "activations"])
    for layer in layers:
        shape = "x".join(map(str, layer.output_shape))
        writer.writerow([layer.name, layer.kind, shape, layer.params, layer.macs, layer.activations])


def run(args: argparse.Namespace) -> int:
    from ghostbench.core.errors import GhostbenchError
    from ghostbench.exporters.cache import default_cache_dir
    from ghostbench.models.manifest import Zoo

    try:
        if args.layers is not None:
            _print_layers(args.layers, args.format)
            return 0
        zoo = Zoo(default_cache_dir())
        names = zoo.select(args.include.split(","), family=args.family)
    except (KeyError, ValueError) as exc:
        raise GhostbenchError(str(exc)) from None
    rows = _rows(zoo, names)
    if args.format == "csv":
        writer = csv.DictWriter(sys.stdout, CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    elif args.format == "json":
        json.dump(rows, sys.stdout, indent=1)
        print()
    else:
        _print_table(rows)
    return 0
