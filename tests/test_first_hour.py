"""The README's first-hour commands, run verbatim, one test per command, in order.

They share one scratch folder (the working directory of each command), as a new user's shell
would; each command must exit 0 without a traceback. Needs the real Fashion-MNIST.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- first-hour: start -->", "<!-- first-hour: end -->"


def first_hour_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    block = text[text.index(START) + len(START) : text.index(END)]
    return [line.strip() for line in block.splitlines() if line.strip().startswith("freqbench ")]


COMMANDS = first_hour_commands()


@pytest.fixture(scope="module")
def shell(tmp_path_factory, fmnist_dir) -> Path:
    return tmp_path_factory.mktemp("first-hour")


def test_the_readme_has_a_first_hour():
    assert len(COMMANDS) >= 5 and COMMANDS[-1].startswith("freqbench leaderboard")


@pytest.mark.parametrize("index", range(len(COMMANDS)), ids=lambda i: COMMANDS[i][:60])
def test_each_first_hour_command_runs_as_written(shell, index):
    args = shlex.split(COMMANDS[index])[1:]
    result = subprocess.run(
        [sys.executable, "-m", "freqbench.cli", *args],
        capture_output=True, text=True, timeout=300, cwd=shell,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    if args[0] == "leaderboard":  # both models listed, and paired as BaSS twins
        assert "natural-bass" in result.stdout and "| natural " in result.stdout
        assert "What BaSS changes" in result.stdout and "Not paired" not in result.stdout
    if "--metrics" in args and "autoattack" in args:  # the block joined the record
        record = json.loads((shell / "runs/records/fashion-mnist/natural.json").read_text())
        assert list(record["metrics"]) == [
            "clean",
            "autoattack",
            "corruptions",
            "frequency",
            "filters",
        ]
    assert not (shell / "leaderboards").exists()  # experiments stay out of the leaderboard
