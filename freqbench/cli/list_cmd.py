"""List what freqbench knows by name; PATTERN is a shell wildcard such as 'wrn-*'."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from freqbench.errors import UnknownNameError


def _architectures(pattern: str | None) -> list[tuple[str, str]]:
    from freqbench.architectures import (
        architecture_source,
        describe_architecture,
        list_architectures,
    )

    rows = []
    for name in list_architectures(pattern):
        origin = _origin(architecture_source(name))
        rows.append((name, describe_architecture(name) + (f" ({origin})" if origin else "")))
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
        origin = _origin(dataset_source(name))
        rows.append((name, get_dataset_info(name).description + (f" ({origin})" if origin else "")))
    return rows


def _metrics(pattern: str | None) -> list[tuple[str, str]]:
    import fnmatch

    from freqbench.metrics import get_metric, list_metrics
    from freqbench.metrics.registry import GROUPS, plugin_source

    rows = []
    for name in list_metrics(pattern):
        spec = get_metric(name)
        details = filter(None, (f"version {spec.version}", _origin(plugin_source(name))))
        rows.append((name, f"{spec.description} ({', '.join(details)})"))
    return rows + [
        (group, f"group: {', '.join(members)}")
        for group, members in GROUPS.items()
        if pattern is None or fnmatch.fnmatchcase(group, pattern)
    ]


def _recipes(pattern: str | None) -> list[tuple[str, str]]:
    from freqbench.recipes import get_recipe, list_recipes
    from freqbench.recipes.registry import recipe_source

    rows = []
    for name in list_recipes(pattern):
        origin = _origin(recipe_source(name))
        rows.append((name, get_recipe(name).description + (f" ({origin})" if origin else "")))
    return rows


def _threat_models(pattern: str | None) -> list[tuple[str, str]]:
    import fnmatch

    from freqbench.threat_models import source_of, threat_models

    rows = []
    for card in threat_models():
        if pattern is None or fnmatch.fnmatchcase(card.name, pattern):
            origin = _origin(source_of(card.name))
            rows.append((card.name, card.description + (f" ({origin})" if origin else "")))
    return rows


def _origin(source: str | None) -> str:
    """Where a plugin's entry comes from, as a list shows it; nothing for a built-in one."""
    return f"plugin {source}" if source else ""


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
