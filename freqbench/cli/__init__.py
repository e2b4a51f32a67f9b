"""The ``freqbench`` command: a thin layer that parses, calls the library and prints.

Each subcommand is a module with ``add_arguments(parser)`` and ``run(args) -> int``. Only the
command being run is imported, and command modules import torch inside ``run``: ``--help``
and ``list`` stay instant. A :class:`~freqbench.errors.UserError` becomes one line on stderr
and exit code 2, never a traceback; so does an OSError (a folder that cannot be written, a full
disk), named by its path, and so does a command line argparse refuses (an unknown option, a
number out of its range). A :class:`~freqbench.errors.PluginError` (a plugin that raised,
exited or returned the wrong thing) is one line and exit code 1. freqbench's numeric
environment variables are read before any command runs, so a bad one is said at once, not
hours into a run.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
import warnings
from typing import NoReturn

import freqbench
from freqbench.errors import PluginError, UserError
from freqbench.registry import reserve_option_names

# name -> (module in freqbench.cli, one-line help).
COMMANDS: dict[str, tuple[str, str]] = {
    "list": ("list_cmd", "list registered architectures, datasets, recipes or metrics"),
    "info": ("info_cmd", "describe a checkpoint from its sidecar"),
    "train": ("train_cmd", "train a model with a recipe (natural, pgd-at, trades, ...; +bass)"),
    "evaluate": ("evaluate_cmd", "evaluate a model and write its record"),
    "spectrum": ("spectrum_cmd", "plot a dataset's radial spectrum, frequency splits and BaSS"),
    "demo": ("demo_cmd", "train smallcnn on Fashion-MNIST and evaluate it (the main job)"),
    "leaderboard": (
        "leaderboard_cmd",
        "print leaderboard tables, or write / check the generated pages",
    ),
    "validate": ("validate_cmd", "check model-zoo entries and records (schema, hashes, names)"),
    "submit": ("submit_cmd", "validate a zoo entry, evaluate it and regenerate its leaderboard"),
    "grid": ("grid_cmd", "train and evaluate every missing row of a grid file (resumable)"),
    "findings": ("findings_cmd", "check the papers' claims against the records; write FINDINGS.md"),
    "cache": ("cache_cmd", "show or empty the cache of generated corruption sets"),
    "zoo": ("zoo_cmd", "RobustBench's published models: list them, or evaluate a whole board"),
}


class _HelpFormatter(argparse.HelpFormatter):
    """Each option's help ends with its default, where it has one the help does not state."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        stated = "default" in text.lower()
        if action.option_strings and default not in (None, False, argparse.SUPPRESS) and not stated:
            text += f" (default: {default})"
        return text


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors said as freqbench's: one line, exit code 2 (see ``main``)."""

    def error(self, message: str) -> NoReturn:
        raise UserError(message)


def _chosen(argv: list[str]) -> str | None:
    """The command named on the command line, if any (its module is the only one imported)."""
    return next((arg for arg in argv if arg in COMMANDS), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; the chosen command's options are added (all commands' when ``argv`` is None)."""
    parser = _Parser(
        prog="freqbench",
        description="Robustness benchmark of image classifiers with a frequency-domain view.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"freqbench {freqbench.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen(argv) if argv is not None else None
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, formatter_class=_HelpFormatter)
        command.add_argument(
            "--verbose", action="store_true",
            help="also show third-party warnings that freqbench filters (freqbench.compat)",
        )  # fmt: skip
        if argv is None or name == chosen:
            module = importlib.import_module(f"freqbench.cli.{module_name}")
            command.description = module.__doc__
            module.add_arguments(command)
            command.set_defaults(run=module.run)
    return parser


@functools.cache
def reserved_option_names() -> frozenset[str]:
    """Every option of every command (protocol fields apart), as the field name that would
    take it (``--cache-dir`` -> ``cache_dir``), and every name a parser sets by default
    (``run``): a plugin's protocol field may take none."""
    from freqbench.cli.options import protocol_fields_left_out

    with protocol_fields_left_out():
        parser = build_parser()
    names = set()
    for command in _subparsers(parser):
        names.update(command._defaults)  # set_defaults: ``run``, the command's function
        for action in command._actions:  # argparse keeps no public list of a parser's options
            names.add(action.dest)
            names.update(o.lstrip("-").replace("-", "_") for o in action.option_strings)
    return frozenset(names - {argparse.SUPPRESS})


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser and the parser of every command."""
    commands = [
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    ]
    return [parser, *(p for action in commands for p in action.choices.values())]


def _error(argv: list[str], message: str, code: int = 2) -> int:
    """One line on stderr and the exit code (2: what was wrong with the input, and how to fix
    it; 1: a plugin's failure)."""
    command = _chosen(argv)
    print(f"freqbench{' ' + command if command else ''}: error: {message}", file=sys.stderr)
    return code


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """freqbench's own warnings as one plain line; others as Python shows them."""
    text = str(message)
    if text.startswith("freqbench: "):
        return f"{text}\n"
    return _PYTHON_FORMAT(message, category, filename, lineno, line)


_PYTHON_FORMAT = warnings.formatwarning


def _check_environment() -> None:
    """Each numeric environment variable freqbench reads, checked against its range."""
    from freqbench.cache import default_max_bytes
    from freqbench.data.stream import data_workers
    from freqbench.progress import log_seconds

    for read in (default_max_bytes, data_workers, log_seconds):
        read()  # a UserError names the variable and its range


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    warnings.formatwarning = _format_warning
    reserve_option_names(reserved_option_names)
    try:
        args = build_parser(argv).parse_args(argv)
        _check_environment()
        if not args.verbose:
            from freqbench.compat import quiet_third_party_warnings

            quiet_third_party_warnings()
        return int(args.run(args) or 0)
    except UserError as exc:
        return _error(argv, str(exc))
    except PluginError as exc:  # a plugin's bug: the user can report it, not fix the input
        return _error(argv, str(exc), code=1)
    except OSError as exc:  # a folder that cannot be written, a disk that is full, ...
        from freqbench.atomic import describe_os_error

        return _error(argv, describe_os_error(exc, action=""))
    except KeyboardInterrupt:
        print("freqbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
