"""List what freqbench knows by name; PATTERN is a shell wildcard such as 'wrn-*'."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from freqbench.errors import UnknownNameError


def _architectures(pattern: str | None) -> list[tuple[str, str]]:
    from freqbench.architectures import describe_architecture, list_architectures

    rows = [(n, describe_architecture(n)) for n in list_architectures(pattern)]
    if pattern is None:
        rows += [
            ("timm:<name>", "any timm model, e.g. timm:resnet18"),
            ("robustbench:<ds>/<tm>/<Name>", "a RobustBench zoo model, e.g. robustbench:cifar10/Linf/Standard"),
        ]  # fmt: skip
    return rows


def _datasets(pattern: str | None) -> list[tuple[str, str]]:
    from freqbench.data import get_dataset_info, list_datasets

    return [(n, get_dataset_info(n).description) for n in list_datasets(pattern)]


def _metrics(pattern: str | None) -> list[tuple[str, str]]:
    import fnmatch

    from freqbench.metrics import get_metric, list_metrics
    from freqbench.metrics.registry import GROUPS

    rows = [
        (n, f"{get_metric(n).description} (version {get_metric(n).version})")
        for n in list_metrics(pattern)
    ]
    return rows + [
        (group, f"group: {', '.join(members)}")
        for group, members in GROUPS.items()
        if pattern is None or fnmatch.fnmatchcase(group, pattern)
    ]


def _recipes(pattern: str | None) -> list[tuple[str, str]]:
    from freqbench.recipes import get_recipe, list_recipes

    return [(n, get_recipe(n).description) for n in list_recipes(pattern)]


KINDS: dict[str, Callable[[str | None], list[tuple[str, str]]]] = {
    "architectures": _architectures,
    "datasets": _datasets,
    "metrics": _metrics,
    "recipes": _recipes,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", help=f"one of: {', '.join(KINDS)}")
    parser.add_argument("pattern", nargs="?", help="shell wildcard, e.g. 'cifar*'")


def run(args: argparse.Namespace) -> int:
    if args.kind not in KINDS:
        raise UnknownNameError("kind of thing to list", args.kind, KINDS)
    rows = KINDS[args.kind](args.pattern)
    width = max((len(name) for name, _ in rows), default=0)
    for name, description in rows:
        print(f"{name:<{width}}  {description}".rstrip())
    if not rows:
        print(f"no {args.kind} match '{args.pattern}'")
    return 0
