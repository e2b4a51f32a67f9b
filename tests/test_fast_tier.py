"""The fast tier (`make test-fast`, ``-m "not slow"``) stays fast: every test that starts a
process (the CLI in a subprocess, ``pip install``), directly or through a helper or fixture
of its module, is marked slow.

Read from the test modules' source (ast), so that it holds for tests not collected in a run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
#: ``subprocess.<name>(...)`` starts a process.
SPAWN = {"run", "Popen", "call", "check_call", "check_output"}


def _starts_a_process(node: ast.AST) -> bool:
    return any(
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == "subprocess"
        and call.func.attr in SPAWN
        for call in ast.walk(node)
    )


def _used_names(function: ast.FunctionDef) -> set[str]:
    """The module functions it may call: names it calls, and its parameters (fixtures)."""
    called = {
        n.func.id
        for n in ast.walk(function)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    return called | {a.arg for a in function.args.args}


def spawning_tests(tree: ast.Module) -> list[str]:
    """The module's tests that start a process, directly or through its functions."""
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    spawning = {name for name, f in functions.items() if _starts_a_process(f)}
    grew = True
    while grew:
        grown = {n for n, f in functions.items() if _used_names(f) & spawning} - spawning
        spawning |= grown
        grew = bool(grown)
    return sorted(n for n in spawning if n.startswith("test_"))


def _marked_slow(decorators: list[ast.expr]) -> bool:
    return any("mark.slow" in ast.unparse(d) for d in decorators)


def _module_marked_slow(tree: ast.Module) -> bool:
    return any(
        isinstance(n, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets)
        and "mark.slow" in ast.unparse(n.value)
        for n in tree.body
    )


@pytest.mark.parametrize("path", sorted(TESTS.glob("test_*.py")), ids=lambda p: p.name)
def test_every_test_that_starts_a_process_is_marked_slow(path):
    tree = ast.parse(path.read_text())
    if _module_marked_slow(tree):
        return
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    unmarked = [n for n in spawning_tests(tree) if not _marked_slow(functions[n].decorator_list)]
    assert not unmarked, f"mark these @pytest.mark.slow (they start a process): {unmarked}"


def test_the_check_sees_a_process_started_through_a_fixture():
    tree = ast.parse(
        "import subprocess\n"
        "def installed(tmp_path):\n    subprocess.run(['pip', 'install', '.'])\n"
        "def cli(*args):\n    return helper(*args)\n"
        "def helper(*args):\n    return subprocess.check_output(args)\n"
        "def test_a(installed):\n    pass\n"
        "def test_b():\n    cli('list')\n"
        "def test_c():\n    assert 1\n"
    )
    assert spawning_tests(tree) == ["test_a", "test_b"]
