"""Every number a user gives is range-checked while the command line is parsed: a value no
consumer can take is one line with the allowed range, exit 2, before torch is imported."""

from __future__ import annotations

import argparse
import math

import pytest

from freqbench.bounds import INT64_MAX, NumberRange
from freqbench.cli import COMMANDS, build_parser, main
from freqbench.config import TrainConfig
from freqbench.errors import UserError
from freqbench.protocol import all_fields


def _refused(capsys, argv: list[str]) -> str:
    """The one line ``argv`` is refused with (exit 2, no traceback)."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


# Written out by hand: the ranges the consumers take (see freqbench/bounds.py for why).
SEEDS = "an integer in [0, 2**63 - 1]"
THREADS = "an integer in [1, 8192]"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["evaluate", "--model", "m", "--threads", "1e18"],
         f"freqbench evaluate: error: argument --threads: must be {THREADS}, got '1e18'"),
        (["evaluate", "--model", "m", "--threads", str(10**18)],
         f"freqbench evaluate: error: argument --threads: must be {THREADS}, got '{10**18}'"),
        (["grid", "g.toml", "--threads", "8193"],
         f"freqbench grid: error: argument --threads: must be {THREADS}, got '8193'"),
        (["evaluate", "--model", "m", "--seed", str(2**64)],
         f"freqbench evaluate: error: argument --seed: must be {SEEDS}, got '{2**64}'"),
        (["evaluate", "--model", "m", "--seed", str(2**63)],
         f"freqbench evaluate: error: argument --seed: must be {SEEDS}, got '{2**63}'"),
        (["train", "--out", "o", "--seed", "-1"],
         f"freqbench train: error: argument --seed: must be {SEEDS}, got '-1'"),
        (["train", "--out", "o", "--bass-p", "1.5"],
         "freqbench train: error: argument --bass-p: must be a probability in [0, 1], got '1.5'"),
        (["train", "--out", "o", "--label-shuffle", "nan"],
         "freqbench train: error: argument --label-shuffle: must be a fraction in [0, 1], got 'nan'"),
        (["train", "--out", "o", "--lr", "inf"],
         "freqbench train: error: argument --lr: must be a finite number > 0, got 'inf'"),
        (["train", "--out", "o", "--eps", "-1"],
         "freqbench train: error: argument --eps: must be a finite number >= 0, got '-1'"),
        (["evaluate", "--model", "m", "--gpus-per-task", "0"],
         "freqbench evaluate: error: argument --gpus-per-task: must be a finite number in (0, 1], "
         "got '0'"),
        (["evaluate", "--model", "m", "--eps", "1e400"],
         "freqbench evaluate: error: argument --eps: must be a finite number > 0, got '1e400'"),
        (["grid", "g.toml", "--shards", "0"],
         "freqbench grid: error: argument --shards: must be an integer in [1, 2**63 - 1], got '0'"),
        (["submit", "e.toml", "--autoattack-n-examples", "2.5"],
         "freqbench submit: error: argument --autoattack-n-examples: must be an integer in "
         "[1, 2**63 - 1], got '2.5'"),
        (["demo", "--epochs", "0"],
         "freqbench demo: error: argument --epochs: must be an integer in [1, 2**63 - 1], got '0'"),
    ],
    ids=lambda v: " ".join(v[1:]) if isinstance(v, list) else None,
)  # fmt: skip
def test_numbers_no_consumer_takes_are_one_line_with_the_range(capsys, argv, line):
    assert _refused(capsys, argv) == line


def _numeric_options() -> list[tuple[str, argparse.Action]]:
    """(command, action) of every option of every subcommand whose value is a number."""
    parser = build_parser(None)
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    found = []
    for name, command in commands.choices.items():
        for action in command._actions:
            assert action.type not in (int, float), (
                f"freqbench {name} {action.option_strings}: a number without a range "
                "(use freqbench.cli.options.bounded)"
            )
            if hasattr(action.type, "allowed"):
                found.append((name, action))
    return found


def _outside(allowed: NumberRange) -> list[str]:
    """Values just outside ``allowed``, and text that is no number of its kind."""
    values = ["ten", "1.5" if allowed.kind is int else "nan"]
    if allowed.minimum is not None:
        values.append(str(allowed.minimum if allowed.exclusive_minimum else allowed.minimum - 1))
    if allowed.maximum is not None:
        values.append(str(allowed.maximum + 1 if allowed.kind is int else allowed.maximum * 2))
    return values


NUMERIC = [
    (command, action, value)
    for command, action in _numeric_options()
    for value in _outside(action.type.allowed)
]


def test_every_command_with_numbers_is_covered():
    """The parametrization below walks every numeric option; these must be among them."""
    options = {(command, action.option_strings[0]) for command, action, _ in NUMERIC}
    expected = {
        ("evaluate", "--threads"), ("evaluate", "--gpus-per-task"), ("evaluate", "--seed"),
        ("evaluate", "--batch-size"), ("evaluate", "--shards"), ("evaluate", "--eps"),
        ("evaluate", "--n-examples"), ("evaluate", "--heatmap-band-limit"),
        ("grid", "--shards"), ("grid", "--threads"), ("submit", "--n-examples"),
        ("train", "--epochs"), ("train", "--batch-size"), ("train", "--lr"), ("train", "--seed"),
        ("train", "--eps"), ("train", "--bass-p"), ("train", "--label-shuffle"),
        ("train", "--mixup-alpha"), ("train", "--max-train-examples"),
        ("train", "--eval-examples"), ("demo", "--epochs"), ("spectrum", "--n-examples"),
    }  # fmt: skip
    assert expected <= options
    assert {command for command, _ in options} <= set(COMMANDS)


@pytest.mark.parametrize(
    ("command", "action", "value"),
    NUMERIC,
    ids=[f"{c} {a.option_strings[0]} {v}" for c, a, v in NUMERIC],
)
def test_each_numeric_option_refuses_a_value_outside_its_range(capsys, command, action, value):
    option, allowed = action.option_strings[0], action.type.allowed
    line = _refused(capsys, [command, option, value])
    assert line == (
        f"freqbench {command}: error: argument {option}: must be {allowed.describe()}, "
        f"got '{value}'"
    )


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("FREQBENCH_DATA_WORKERS", "-1", "an integer in [0, 8192]"),
        ("FREQBENCH_DATA_WORKERS", "100000", "an integer in [0, 8192]"),
        ("FREQBENCH_DATA_WORKERS", "9" * 5000, "an integer in [0, 8192]"),
        ("FREQBENCH_LOG_SECONDS", "nan", "a finite number >= 0"),
        ("FREQBENCH_LOG_SECONDS", "soon", "a finite number >= 0"),
        ("FREQBENCH_CACHE_MAX_GB", "1e308", "a finite number in [0, 9223372036]"),
    ],
)
def test_numeric_environment_variables_are_checked_before_any_command(
    capsys, monkeypatch, variable, value, allowed
):
    monkeypatch.setenv(variable, value)
    line = _refused(capsys, ["list", "datasets"])
    assert line.startswith(f"freqbench list: error: ${variable} must be {allowed}, got '")


def test_help_is_shown_whatever_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("FREQBENCH_CACHE_MAX_GB", "nan")
    with pytest.raises(SystemExit) as done:
        main(["cache", "--help"])
    assert done.value.code == 0 and "FREQBENCH_CACHE_MAX_GB" in capsys.readouterr().out


def test_the_library_checks_the_same_ranges():
    """A Python caller meets the same rules: a protocol field's declared bounds, the training
    config's ranges."""
    fields = all_fields()
    assert fields["seed"].check(INT64_MAX) == INT64_MAX
    with pytest.raises(UserError, match=r"--seed must be an integer in \[0, 2\*\*63 - 1\]"):
        fields["seed"].check(2**63)
    with pytest.raises(UserError, match=r"--heatmap-eps must be a finite number > 0, got nan"):
        fields["heatmap_eps"].check(math.nan)
    with pytest.raises(UserError, match=r"seed must be an integer in \[0, 2\*\*63 - 1\]"):
        TrainConfig(seed=2**64)
    with pytest.raises(UserError, match=r"epochs must be an integer in \[1, 2\*\*63 - 1\]"):
        TrainConfig(epochs=0)
    assert TrainConfig(lr=1).lr == 1  # an int is a number
