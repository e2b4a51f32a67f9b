"""A tiny name -> object registry shared by architectures, datasets, recipes and metrics.

Modelled on timm's ``register_model`` / ``list_models``: names are found exactly, listed
with shell-style wildcards, and a miss raises :class:`UnknownNameError` with suggestions.
Built-in entries name their implementation as ``"module:attribute"`` (:func:`load_object`),
so that listing names and descriptions never imports torch.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Iterator
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
