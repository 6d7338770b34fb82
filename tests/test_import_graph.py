"""The project's modules import each other without cycles: each package's import graph is a DAG.

Edges are read with ``ast`` from the source, not by importing it, and every import statement
counts: at module level, inside functions (deferred imports) and in ``if TYPE_CHECKING:`` blocks.
``from a.b import c`` is an edge to the module ``a.b.c`` when that is a module, else to ``a.b``;
``import a.b`` to ``a.b``. Parent packages imported on the way (``a`` for ``a.b``) are not edges:
a package's ``__init__`` re-exporting its modules while those import each other by full name is
not a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: str) -> dict[str, Path]:
    """Every module of ``package`` (``a.b`` for ``a/b.py``, ``a`` for ``a/__init__.py``)."""
    found: dict[str, Path] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    """The module names one import statement refers to (relative imports resolved)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        anchor = module.split(".")
        anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
        base = ".".join([*anchor, *([base] if base else [])])
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(package: str) -> dict[str, set[str]]:
    """``module -> modules of the same package it imports``."""
    modules = _modules(package)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        edges: set[str] = set()
        imports = (n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom))
        for node in imports:
            names = list(_targets(node, module, path.name == "__init__.py"))
            if isinstance(node, ast.ImportFrom):
                # ``from a.b import c``: the submodule a.b.c if there is one, else a.b itself.
                base, *members = names
                edges |= {m if m in modules else base for m in members} & modules.keys()
            else:
                edges |= {n for n in names if n in modules}
        graph[module] = edges - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other in a circle, sorted: the strongly connected
    components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_edges_name_the_submodule_or_the_module_imported_from() -> None:
    graph = import_graph("benchmarks")
    # ``from benchmarks import phases`` (a submodule); a TYPE_CHECKING import counts too.
    assert "benchmarks.phases" in graph["benchmarks.harness"]
    assert "benchmarks.options" in graph["benchmarks.report"]
    assert "benchmarks" not in graph["benchmarks.harness"]


def test_benchmarks_imports_form_a_dag() -> None:
    assert cycles(import_graph("benchmarks")) == []


def test_trading_runtime_imports_form_a_dag() -> None:
    graph = import_graph("trading_runtime")
    assert len(graph) > 20 and any(graph.values())
    assert cycles(graph) == []
