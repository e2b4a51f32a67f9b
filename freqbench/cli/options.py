"""Options shared by the commands that evaluate: the device, and the protocol's fields; and
:func:`bounded`, the type of every numeric option.

The protocol options are generated from the declared protocol fields (core and per metric),
so a plugin's field gets its option too, checked against the field's own bounds. Nothing
here imports torch.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from freqbench.bounds import MAX_CPUS, NumberRange
from freqbench.executors import GPUS_PER_TASK, THREADS
from freqbench.metrics.spec import ProtocolField
from freqbench.protocol import Protocol, all_fields

DEVICE_HELP = "auto (default: CUDA when torch sees a GPU, else the CPU), cpu, cuda or cuda:N"


def bounded(allowed: NumberRange) -> Callable[[str], int | float]:
    """The argparse type of a number in ``allowed``: a value outside it (or no number) is
    refused while the command line is parsed, in one line that states the range."""

    def number(text: str) -> int | float:
        value = allowed.read(text)
        if value is None:
            raise argparse.ArgumentTypeError(allowed.refusal(text))
        return value

    number.allowed = allowed  # type: ignore[attr-defined]  # for --help and the tests
    return number


def field_type(field: ProtocolField) -> Callable[[str], object]:
    """The argparse type of a protocol field's option: its declared bounds (``field.allowed``,
    which ``field.check`` applies too), or its kind."""
    return bounded(field.allowed) if field.allowed is not None else field.kind


def add_device_argument(parser: argparse.ArgumentParser, help_text: str = DEVICE_HELP) -> None:
    parser.add_argument("--device", default="auto", help=help_text)


def add_cache_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache-dir", type=Path,
        help="where generated corruption sets are kept, to be shared by every model and run "
        "(default: $FREQBENCH_CACHE, else ~/.cache/freqbench/arrays; freqbench cache "
        "info|clear)",
    )  # fmt: skip


#: While True, :func:`add_protocol_arguments` adds ``--protocol`` only: the parsers are built
#: to read the command line's own option names, which the protocol fields must not take.
_fields_left_out = False


@contextlib.contextmanager
def protocol_fields_left_out() -> Iterator[None]:
    global _fields_left_out
    _fields_left_out = True
    try:
        yield
    finally:
        _fields_left_out = False


def add_protocol_arguments(parser: argparse.ArgumentParser) -> None:
    """``--protocol`` and one option per protocol field (defaults: the dataset's standard)."""
    group = parser.add_argument_group("protocol (defaults: the dataset's standard protocol)")
    group.add_argument(
        "--protocol", choices=("standard", "quick"), default="standard",
        help="quick: 200 AutoAttack and heat-map images, 1000 corrupted ones",
    )  # fmt: skip
    if _fields_left_out:
        return
    for field in all_fields().values():
        if field.cli:
            default = field.describe_default()
            stated = "default" in field.help.lower() or not default
            group.add_argument(
                field.option, dest=field.name, type=field_type(field), choices=field.choices,
                help=field.help if stated else f"{field.help} (default: {default})",
            )  # fmt: skip


def add_field_arguments(parser: argparse.ArgumentParser, names: tuple[str, ...]) -> None:
    """The options of the protocol fields ``names`` only, as their declarations make them."""
    if _fields_left_out:
        return
    fields = all_fields()
    for name in names:
        field = fields[name]
        parser.add_argument(field.option, dest=field.name, type=field_type(field), help=field.help)


def protocol_from_args(args: argparse.Namespace) -> Protocol:
    chosen = {
        name: getattr(args, name)
        for name, field in all_fields().items()
        if field.cli and getattr(args, name, None) is not None
    }
    return Protocol(args.protocol, **chosen)


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where the work runs")
    group.add_argument(
        "--executor", choices=("local", "ray"), default="local",
        help='local (default: in this process) or ray (pip install "freqbench[ray]")',
    )  # fmt: skip
    group.add_argument(
        "--ray-address", help="Ray cluster to join (default $RAY_ADDRESS, else a local instance)"
    )
    group.add_argument(
        "--gpus-per-task", type=bounded(GPUS_PER_TASK),
        help="GPU share of each task on Ray, in (0, 1] (default 1; 0.25 packs four small models "
        "per GPU)",
    )  # fmt: skip
    group.add_argument(
        "--threads", type=bounded(THREADS),
        help=f"torch threads per task, 1 to {MAX_CPUS} (default: every core locally, 1 per task "
        "on Ray); each block records it, and equal counts give equal numbers on both executors",
    )  # fmt: skip


def executor_from_args(args: argparse.Namespace):
    """The executor the options ask for (Ray is imported only when asked for)."""
    from freqbench.executors import make_executor

    return make_executor(
        args.executor, address=args.ray_address, gpus_per_task=args.gpus_per_task,
        threads=args.threads,
    )  # fmt: skip
