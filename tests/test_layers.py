"""The house, one way down: cli > grid, findings > leaderboard > evaluate > records > metrics >
data, spectral, corruptions. Every import inside freqbench (function-level ones included) may
only reach its own layer or a lower one; the library never runs git."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "freqbench"

#: Top to bottom. A module is named by its first part below ``freqbench``.
LAYERS: list[tuple[str, ...]] = [
    ("cli",),
    ("grid", "findings", "validation"),
    ("leaderboard",),
    ("headline",),
    ("evaluate", "loading"),
    ("records",),
    ("protocol",),
    ("metrics",),
    ("training", "recipes"),
    ("data", "spectral", "corruptions", "sensitivity", "filter_stats", "prediction", "plots",
     "architectures", "checkpoints", "zoo"),
    ("errors", "atomic", "registry", "provenance", "compat", "schemas", "config", "paths",
     "executors", "progress"),
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
