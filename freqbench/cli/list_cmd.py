"""List what freqbench knows by name; PATTERN is a shell wildcard such as 'wrn-*'."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from freqbench.errors import UnknownNameError
from freqbench.registry import Registry


def _row(registry: Registry, name: str, text: str, *details: str) -> tuple[str, str]:
    """A listed card: its description, then its details and the plugin package it came from
    (nothing for freqbench's own)."""
    source = registry.source(name)
    details = (*details, f"plugin {source}") if source else details
    return name, text + (f" ({', '.join(details)})" if details else "")


def _architectures(pattern: str | None) -> list[tuple[str, str]]:
    from freqbench.architectures import ARCHITECTURES

    rows = [
        _row(ARCHITECTURES, n, ARCHITECTURES.get(n).description)
        for n in ARCHITECTURES.names(pattern)
    ]
    if pattern is None:
        rows += [
            ("timm:<name>", "any timm model, e.g. timm:resnet18"),
            ("robustbench:<ds>/<tm>/<Name>", "a RobustBench zoo model, e.g. robustbench:cifar10/Linf/Standard"),
        ]  # fmt: skip
    return rows


def _datasets(pattern: str | None) -> list[tuple[str, str]]:
    from freqbench.data import dataset_source, get_dataset_info, list_datasets

    rows = []
    for name in list_datasets(pattern):
        source = dataset_source(name)
        text = get_dataset_info(name).description
        rows.append((name, text + (f" (plugin {source})" if source else "")))
    return rows


def _metrics(pattern: str | None) -> list[tuple[str, str]]:
    import fnmatch

    from freqbench.metrics import get_metric, list_metrics
    from freqbench.metrics.registry import GROUPS, METRICS

    rows = []
    for name in list_metrics(pattern):
        spec = get_metric(name)
        rows.append(_row(METRICS, name, spec.description, f"version {spec.version}"))
    return rows + [
        (group, f"group: {', '.join(members)}")
        for group, members in GROUPS.items()
        if pattern is None or fnmatch.fnmatchcase(group, pattern)
    ]


def _recipes(pattern: str | None) -> list[tuple[str, str]]:
    from freqbench.recipes.registry import RECIPES

    return [_row(RECIPES, n, RECIPES.get(n).description) for n in RECIPES.names(pattern)]


def _threat_models(pattern: str | None) -> list[tuple[str, str]]:
    from freqbench.threat_models import THREAT_MODELS, threat_models

    return [
        _row(THREAT_MODELS, card.name, card.description)
        for card in threat_models()
        if card.name in THREAT_MODELS.names(pattern)
    ]


KINDS: dict[str, Callable[[str | None], list[tuple[str, str]]]] = {
    "architectures": _architectures,
    "datasets": _datasets,
    "metrics": _metrics,
    "recipes": _recipes,
    "threat-models": _threat_models,
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
