"""List the model zoo: family, input size, parameters, multiply-accumulates (MACs, what the
GhostNet papers call FLOPs), activations (conv output elements, Radosavovic et al. 2020) and the
published top-1 accuracy with its source. Complexity is computed from the real networks, once per
version of their definitions (kept in the zoo manifest of the artifact cache); a model file's from
its graph. Lists the zoo, the models of installed plugin packages (with the package) and, through
--include, your own (docs/own-models.md)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import TYPE_CHECKING

from ghostbench.commands.options import add_own_model_arguments, model_name

if TYPE_CHECKING:
    from ghostbench.models.manifest import Zoo

HELP = "list models with params, MACs, activations and published top-1"
FORMATS = ("table", "csv", "json")
CSV_COLUMNS = (
    "name",
    "family",
    "origin",
    "input_size",
    "params",
    "macs",
    "activations",
    "counts_note",
    "top1",
    "top1_source",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--family", help="only this family (e.g. c-ghost, g-ghost, regnet, mobilenet)")
    parser.add_argument(
        "--include",
        default="*",
        help="comma-separated names or wildcards (default: all), e.g. 'ghostnet_*,regnetx_032', or your "
        "own models: package.module:callable, path/to/file.py:callable, a .onnx or .tflite file",
    )
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument(
        "--layers",
        metavar="MODEL",
        type=model_name,
        help="print the per-layer breakdown (params, MACs, activations) of one model instead",
    )
    add_own_model_arguments(parser)


def _rows(zoo: Zoo, names: list[str]) -> list[dict]:
    counts = zoo.counts(names)
    rows = []
    for name in names:
        entry = zoo.get(name)
        rows.append(
            {
                "name": name,
                "family": entry.family,
                "origin": origin_text(entry.origin),
                "input_size": entry.input_size,
                "params": counts[name].params,
                "macs": counts[name].macs,
                "activations": counts[name].activations,
                "counts_note": counts[name].why,
                "top1": entry.top1,
                "top1_source": entry.top1_source,
            }
        )
    return rows


def origin_text(origin: str) -> str:
    """Where a model comes from, in a word or two: zoo, the plugin's package, yours."""
    if not origin:
        return "zoo"
    return "yours" if origin.startswith("user ") else origin


def _millions(value: int | None, digits: int) -> str:
    return "–" if value is None else f"{value / 1e6:.{digits}f}"


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
    columns = ["model", "family", "px", "params (M)", "MACs (M)", "acts (M)", "top-1 (%)"]
    others = any(r["origin"] != "zoo" for r in rows)
    if others:
        columns.insert(2, "from")
    for col in columns:
        table.add_column(col, justify="left" if col in ("model", "family", "from") else "right", no_wrap=True)
    sources: list[str] = []
    for r in rows:
        top1 = ""
        if r["top1"] is not None:
            if r["top1_source"] not in sources:
                sources.append(r["top1_source"])
            top1 = f"{r['top1']:.1f} [{sources.index(r['top1_source']) + 1}]"
        cells = [
            r["name"],
            r["family"],
            str(r["input_size"]),
            _millions(r["params"], 2),
            _millions(r["macs"], 1),
            _millions(r["activations"], 2),
            top1 or "none given" * (r["origin"] != "zoo"),
        ]
        if others:
            cells.insert(2, r["origin"])
        table.add_row(*cells)
    console = Console()
    console.print(table)
    for r in rows:
        if r["counts_note"]:
            note = f"{r['name']}: complexity not counted: {r['counts_note']}"
            console.print(note, highlight=False, markup=False)
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
    from ghostbench.commands.options import csv_items, own_models
    from ghostbench.core.errors import GhostbenchError
    from ghostbench.exporters.cache import default_cache_dir
    from ghostbench.models.manifest import Zoo

    include = own_models(csv_items(args.include) or ("*",), args)
    try:
        if args.layers is not None:
            _print_layers(args.layers, args.format)
            return 0
        zoo = Zoo(default_cache_dir())
        names = zoo.select(list(include), family=args.family)
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
