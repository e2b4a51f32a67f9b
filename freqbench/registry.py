"""A tiny name -> object registry shared by architectures, datasets, recipes and metrics.

Modelled on timm's ``register_model`` / ``list_models``: names are found exactly, listed
with shell-style wildcards, and a miss raises :class:`UnknownNameError` with suggestions.
Built-in entries name their implementation as ``"module:attribute"`` (:func:`load_object`),
so that listing names and descriptions never imports torch. Installed packages add entries
through an entry-point group (:func:`load_plugins`); a broken one is left out with a
warning, and never stops the rest.
"""

from __future__ import annotations

import fnmatch
import importlib
import warnings
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from freqbench.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects of one kind (``kind`` is used in error messages)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._items) from None

    def names(self, pattern: str | None = None) -> list[str]:
        names = sorted(self._items)
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)] if pattern else names

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def load_object(target: str) -> Any:
    """The object a ``"package.module:attribute"`` string names, imported on first use."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def distribution(entry: EntryPoint) -> str:
    """The package (name and version) an entry point comes from."""
    dist = entry.dist
    return f"{dist.name} {dist.version}" if dist is not None else entry.value


def load_plugins(group: str, kind: str, register: Callable[[EntryPoint], None]) -> None:
    """Register every entry point of ``group`` with ``register(entry)``, which loads it,
    checks it and raises to refuse it. Entry points load in a fixed order (by name), so that
    of two clashing plugins the same one wins everywhere; one that fails to import or to
    register (anything raised, ``SystemExit`` and ``KeyboardInterrupt`` included) is left out
    with one warning naming its package."""
    for entry in sorted(entry_points(group=group), key=lambda e: (e.name, e.value)):
        try:
            register(entry)
        except BaseException as exc:
            warnings.warn(
                f"freqbench: {kind} plugin '{entry.name}' ({entry.value}, package "
                f"{distribution(entry)}) is left out: {type(exc).__name__}: {exc}",
                stacklevel=3,
            )
