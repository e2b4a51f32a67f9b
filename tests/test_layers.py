"""The house, one way down: cli > findings > grid > leaderboard > evaluate > records > metrics >
data, spectral, corruptions. Every import inside freqbench (function-level ones included) may
only reach its own layer or a lower one, no two modules import each other even through
others, and the library never runs git."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "freqbench"

#: Top to bottom. A module is named by its first part below ``freqbench``.
LAYERS: list[tuple[str, ...]] = [
    ("cli",),
    ("findings", "validation"),
    ("grid",),
    ("leaderboard",),
    ("headline",),
    ("evaluate", "loading", "preflight"),
    ("records",),
    ("protocol",),
    ("metrics",),
    ("training", "recipes"),
    ("data", "spectral", "corruptions", "sensitivity", "filter_stats", "prediction", "plots",
     "architectures", "checkpoints", "zoo"),
    ("threat_models",),
    ("errors", "bounds", "atomic", "registry", "provenance", "compat", "schemas", "config", "paths",
     "executors", "scheduler", "progress", "weights", "cache", "published"),
]  # fmt: skip
LEVEL = {name: len(LAYERS) - i for i, names in enumerate(LAYERS) for name in names}


def _part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, first part below freqbench) of every freqbench import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] != "freqbench":
                continue
            if len(parts) > 1:
                found.append((node.lineno, parts[1]))
            else:  # from freqbench import atomic
                found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "freqbench" and len(parts) > 1:
                    found.append((node.lineno, parts[1]))
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_module_has_a_layer():
    assert sorted({_part(p) for p in MODULES} - set(LEVEL)) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path):
    own = LEVEL[_part(path)]
    upward = [
        f"line {line}: freqbench.{target} (layer of {target!r} is above {_part(path)!r})"
        for line, target in _imports(path)
        if target in LEVEL and LEVEL[target] > own
    ]
    assert upward == []


def test_the_library_never_runs_git():
    for path in MODULES:
        if _part(path) == "cli":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "subprocess" not in names, f"{path} imports subprocess"


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the freqbench modules it imports (anywhere in the file), by their full name."""
    modules = {_module(p) for p in PACKAGE.rglob("*.py")}

    def resolve(name: str) -> str | None:
        parts = name.split(".")
        while parts and ".".join(parts) not in modules:
            parts.pop()
        return ".".join(parts) or None

    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            found |= {resolve(n) for n in names if n.startswith("freqbench.")}
        graph[_module(path)] = {m for m in found if m and m != _module(path)}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_through_others():
    assert _cycles(_import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
