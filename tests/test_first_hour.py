"""The README's first hour, run as written at a tiny budget, one test per command, in order;
then CONTRIBUTING's metric-plugin example on the records it left.

The commands share one scratch folder (the working directory of each command), as a new
user's shell would; each must exit 0 without a traceback. Only the budgets shrink: each
command's budget options are replaced by :data:`TINY` (and AutoAttack runs at an eps that
breaks every point at once, so that it takes seconds on a loaded machine). The README's own
budgets must be the ones its time column was measured with (:data:`MEASURED`), so a budget
changed without measuring again fails here. Needs the real Fashion-MNIST.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README, CONTRIBUTING = ROOT / "README.md", ROOT / "CONTRIBUTING.md"
#: The budget options of each first-hour command, as the README's time column measured them
#: (python benchmarks/first_hour.py).
MEASURED = [
    {},
    {"--epochs": "1"},
    {"--epochs": "1"},
    {"--epochs": "1"},
    {"--protocol": "quick"},
    {"--protocol": "quick"},
    {"--protocol": "quick", "--autoattack-n-examples": "100"},
    {"--protocol": "quick", "--autoattack-n-examples": "100"},
    {},
]
BUDGET_OPTIONS = ("--epochs", "--max-train-examples", "--protocol", "--n-examples",
                  "--autoattack-n-examples", "--heatmap-n-examples", "--corruptions-n-examples")  # fmt: skip
#: What the test runs instead, per command: train on 512 images; evaluate 96 images.
TINY = {
    "train": {"--max-train-examples": "512", "--eval-examples": "64"},
    "evaluate": {"--n-examples": "96", "--autoattack-n-examples": "8", "--heatmap-n-examples": "4",
                 "--corruptions-n-examples": "16", "--eps": "0.5"},
}  # fmt: skip


def block(path: Path, name: str) -> list[str]:
    """The commands between ``<!-- name: start -->`` and ``<!-- name: end -->`` (comments off)."""
    text = path.read_text(encoding="utf-8")
    start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
    inner = text[text.index(start) + len(start) : text.index(end)]
    return [
        line.split(" #")[0].strip()
        for line in inner.splitlines()
        if line.startswith(("freqbench ", "pip ", "printf "))
    ]


COMMANDS = block(README, "first-hour")


def budget(args: list[str]) -> dict[str, str]:
    return {a: args[i + 1] for i, a in enumerate(args) if a in BUDGET_OPTIONS}


def tiny(args: list[str]) -> list[str]:
    """``args`` with the tiny budget of its command: those options replaced or added."""
    chosen = TINY.get(args[0], {})
    kept = [
        arg
        for i, arg in enumerate(args)
        if arg not in chosen and (i == 0 or args[i - 1] not in chosen)
    ]
    return kept + [x for pair in chosen.items() for x in pair]


def run(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "freqbench.cli", *args],
        capture_output=True, text=True, timeout=300, cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )  # fmt: skip


@pytest.fixture(scope="module")
def shell(tmp_path_factory, fmnist_dir) -> Path:
    return tmp_path_factory.mktemp("first-hour")


def test_the_readme_budgets_are_the_measured_ones():
    assert [budget(shlex.split(c)[1:]) for c in COMMANDS] == MEASURED
    assert COMMANDS[-1].startswith("freqbench leaderboard")


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(COMMANDS)), ids=lambda i: COMMANDS[i][:60])
def test_each_first_hour_command_runs_as_written(shell, index):
    args = tiny(shlex.split(COMMANDS[index])[1:])
    result = run(args, shell)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    if args[0] == "train":  # the summary says on how many test images it measured
        assert re.search(r"test acc \(first 64 test images\)", result.stdout), result.stdout
    if args[0] == "leaderboard":  # all three models listed, the BaSS twins paired
        for name in ("natural", "fgsm-rs", "fgsm-rs-bass"):
            assert f"| {name} " in result.stdout
        assert "What BaSS changes" in result.stdout and "Not paired" not in result.stdout
    if "--metrics" in args and "autoattack" in args:  # the block joined the record
        record = json.loads((shell / "runs/records/fashion-mnist/natural.json").read_text())
        assert list(record["metrics"]) == [
            "clean", "autoattack", "corruptions", "band_split", "long_tail", "gradient_spectrum",
            "fourier_heatmap", "filters",
        ]  # fmt: skip
    assert not (shell / "leaderboards").exists()  # experiments stay out of the leaderboard


PLUGIN = block(CONTRIBUTING, "plugin-example")


@pytest.mark.slow
def test_the_plugin_example_runs_after_the_first_hour(shell, tmp_path_factory):
    """CONTRIBUTING's commands as written, on the first hour's records (pip installs the
    example into a folder of its own, as tests/test_plugins.py does)."""
    site = tmp_path_factory.mktemp("site")
    assert PLUGIN[0] == "pip install examples/tail-noise-metric"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(site), str(ROOT / "examples" / "tail-noise-metric")],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    env = {"PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    for command in PLUGIN[1:]:
        if command.startswith("printf "):
            subprocess.run(command, shell=True, cwd=shell, check=True)
            continue
        args = tiny(shlex.split(command)[1:])
        result = run(args, shell, env)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Traceback" not in result.stderr
    assert "Tail-noise acc." in result.stdout  # the leaderboard shows the plugin's column
