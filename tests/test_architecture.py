"""The layer rules of docs/architecture.md, read from the source: every import in ``ghostbench/``
(module level, inside functions, under ``TYPE_CHECKING``) goes down the layer order or stays in
its own layer, and no package imports one that imports it back."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ghostbench"

# Each layer and the layers it may import (its own always). docs/architecture.md explains why.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "models": frozenset({"core"}),
    "exporters": frozenset({"core", "models"}),
    "runners": frozenset({"core", "models"}),
    "worker": frozenset({"core", "runners"}),
    "bench": frozenset({"core", "models", "exporters", "runners", "worker"}),
    "evaluate": frozenset({"core", "models", "exporters", "runners", "worker", "bench"}),
    "reports": frozenset({"core", "bench"}),
    "commands": frozenset(
        {"core", "models", "exporters", "runners", "worker", "bench", "evaluate", "reports"}
    ),
}
# Imports a layer may make only inside a function, never when its module loads: a runner builds a
# registry model on demand, but the board's bundle (core, runners, worker) must load without torch.
ONLY_IN_FUNCTIONS: dict[str, frozenset[str]] = {"runners": frozenset({"models"})}
# Where a layer may import another only through some of its modules: reports read results through
# the store and render comparisons from their result types, and never drive a measurement.
ONLY_THROUGH: dict[tuple[str, str], tuple[str, ...]] = {
    ("reports", "bench"): ("ghostbench.bench.store", "ghostbench.bench.compare", "ghostbench.bench.history"),
}
# Third-party libraries the ground layer may load: it ships to boards that have only these.
CORE_LIBRARIES = frozenset({"numpy", "scipy"})


@dataclass(frozen=True)
class Import:
    source: str  # importing module, dotted
    target: str  # imported module, dotted (``from a import b`` names ``a.b`` when that is a module)
    line: int
    in_function: bool

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    rel = Path(*dotted.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


class _Visitor(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.module, self.package = module, module if is_package else module.rpartition(".")[0]
        self.depth = 0
        self.found: list[Import] = []

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def _add(self, target: str, node: ast.AST) -> None:
        if target == "ghostbench" or target.startswith("ghostbench."):
            self.found.append(Import(self.module, target, node.lineno, self.depth > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")[: len(self.package.split(".")) - (node.level - 1)]
            module = ".".join([*base, *([node.module] if node.module else [])])
        else:
            module = node.module or ""
        for alias in node.names:
            sub = f"{module}.{alias.name}"
            self._add(sub if _is_module(sub) else module, node)


def _imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        visitor = _Visitor(_module_name(path), path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        found += visitor.found
    return found


IMPORTS = _imports()


def layer(module: str) -> str:
    """The layer of a dotted module: its folder under ghostbench/; the package root and
    ``__main__`` sit with the ground layer and the commands."""
    parts = module.split(".")
    if len(parts) == 1:
        return "core"  # ghostbench/__init__.py: the version string
    return "commands" if parts[1] == "__main__" else parts[1]


def test_every_module_is_in_a_layer() -> None:
    layers = {layer(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert layers <= set(MAY_IMPORT), f"folders without a layer rule: {sorted(layers - set(MAY_IMPORT))}"


def test_imports_follow_the_layer_order() -> None:
    assert len(IMPORTS) > 200, "the import scan found too little to check"
    wrong = []
    for imp in IMPORTS:
        mine, theirs = layer(imp.source), layer(imp.target)
        if mine == theirs:
            continue
        if theirs not in MAY_IMPORT[mine]:
            wrong.append(f"{imp.where}: {mine} may not import {theirs}")
        elif theirs in ONLY_IN_FUNCTIONS.get(mine, ()) and not imp.in_function:
            wrong.append(f"{imp.where}: {mine} imports {theirs} only inside functions")
        elif (through := ONLY_THROUGH.get((mine, theirs))) and not imp.target.startswith(through):
            wrong.append(f"{imp.where}: {mine} imports {theirs} only through {', '.join(through)}")
    assert not wrong, "imports against docs/architecture.md:\n" + "\n".join(wrong)


def test_the_ground_layer_loads_with_numpy_and_scipy_alone() -> None:
    """Module-level imports of core/ outside the standard library: numpy and scipy only (torch may
    appear under ``TYPE_CHECKING``, for annotations)."""
    wrong = []
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in CORE_LIBRARIES | {"ghostbench"}:
                    wrong.append(f"{path.relative_to(PACKAGE)}:{node.lineno} imports {name}")
    assert not wrong, "\n".join(wrong)


def _package(module: str) -> str:
    """The package a module belongs to; ``ghostbench.__main__`` (the entry point above every layer)
    stands alone rather than in the root package it would otherwise close a circle through."""
    if (
        module == "ghostbench.__main__"
        or (PACKAGE.parent / module.replace(".", "/") / "__init__.py").is_file()
    ):
        return module
    return module.rpartition(".")[0]


def test_no_package_imports_one_that_imports_it_back() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        a, b = _package(imp.source), _package(imp.target)
        if a != b:
            graph[a].add(b)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            pytest.fail("package import cycle: " + " -> ".join(cycle))


def test_the_rules_catch_an_import_against_the_order(tmp_path: Path) -> None:
    """The scan sees a function-level import and the rule refuses it (so the tests above can fail)."""
    source = "def f():\n    from ghostbench.bench.store import RunStore\n    return RunStore\n"
    visitor = _Visitor("ghostbench.runners.fake_runner", is_package=False)
    visitor.visit(ast.parse(source))
    (imp,) = visitor.found
    assert imp.in_function and layer(imp.target) == "bench"
    assert "bench" not in MAY_IMPORT[layer(imp.source)]
