"""The engine package has no import cycle: its features take the narrow ``Workspace``, never
the ``Project`` facade that imports them.

The graph is built from the source with ``ast``: every ``import`` anywhere in a module counts
(at the top, inside a function, under ``TYPE_CHECKING``), as does the ``__init__`` of a
package a module imports into (Python runs it first). Edges to a module's own enclosing
packages are left out: Python has begun running them before it runs the module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import accord

ROOT = Path(accord.__file__).parent
PREFIX = "accord"


def module_names() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The accord modules ``name`` imports (anywhere in its source)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if is_package(path) else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets.add(base)
            targets.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules)
    out: set[str] = set()
    for target in targets:
        if target != PREFIX and not target.startswith(PREFIX + "."):
            continue
        parts = target.split(".")
        # the module itself and every package on the way to it (their __init__ runs first)
        for end in range(2, len(parts) + 1):
            candidate = ".".join(parts[:end])
            if candidate in modules and not (name == candidate or name.startswith(candidate + ".")):
                out.add(candidate)
    return out


def graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imported(name, path, modules) for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_imports_in_functions_and_type_checking_blocks() -> None:
    edges = graph()
    # under TYPE_CHECKING in sync.py
    assert "accord.connectors.base" in edges["accord.engine.sync"]
    # the facade imports the features; a package's __init__ counts as imported
    assert {"accord.engine.sync", "accord.engine.repair"} <= edges["accord.engine.project"]


def test_no_import_cycle_through_the_engine() -> None:
    found = [c for c in cycles(graph()) if any(m.startswith("accord.engine") for m in c)]
    assert found == [], f"import cycles through the engine: {found}"


def test_no_engine_feature_imports_the_facade() -> None:
    edges = graph()
    importers = sorted(
        name
        for name, targets in edges.items()
        if name.startswith("accord.engine.") and "accord.engine.project" in targets
    )
    assert importers == []
