"""A tiny name -> object registry shared by architectures, datasets, recipes and metrics.

Modelled on timm's ``register_model`` / ``list_models``: names are found exactly, listed
with shell-style wildcards, and a miss raises :class:`UnknownNameError` with suggestions.
Built-in entries name their implementation as ``"module:attribute"`` (:func:`load_object`),
so that listing names and descriptions never imports torch. Installed packages add entries
through an entry-point group (:func:`load_plugins`); a broken one is left out with a
warning, and never stops the rest.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib
import warnings
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from freqbench.errors import PluginError, UnknownNameError, UserError

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


# The command line's option names as field names (``--cache-dir`` -> ``cache_dir``), handed
# over by the CLI from its own parsers: a plugin's protocol field must not take one.
_option_names: Callable[[], frozenset[str]] | None = None
_on_reserved: list[Callable[[], None]] = []


def reserve_option_names(provider: Callable[[], frozenset[str]]) -> None:
    """Take the CLI's option names (``provider`` is called when a plugin's fields are
    checked); registries that loaded plugins already check them now."""
    global _option_names
    _option_names = provider
    for check in _on_reserved:
        check()


def reserved_option_names() -> frozenset[str]:
    return _option_names() if _option_names is not None else frozenset()


def when_reserved(check: Callable[[], None]) -> None:
    """Call ``check`` whenever the CLI hands its option names over."""
    _on_reserved.append(check)


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


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says that memory could not be allocated (Python's, torch's CPU
    allocator's or CUDA's)."""
    text = str(exc)
    return (
        isinstance(exc, MemoryError)
        or type(exc).__name__ == "OutOfMemoryError"
        or "can't allocate memory" in text
        or "out of memory" in text.lower()
    )


@contextlib.contextmanager
def plugin_code(what: str, source: str | None) -> Iterator[None]:
    """Run code of a plugin (``source``: its package; None for freqbench's own code, which is
    not wrapped: its failures are freqbench's bugs). Whatever the plugin raises, ``sys.exit``
    included, becomes one :class:`PluginError` that names ``what`` and the package; memory it
    cannot allocate is the user's choice of model and machine (a UserError). Interrupts pass."""
    if source is None:
        yield
        return
    try:
        yield
    except (KeyboardInterrupt, UserError, PluginError):
        raise
    except BaseException as exc:
        if out_of_memory(exc):
            raise UserError(
                f"{what} (plugin package {source}) could not allocate memory: "
                f"{_first_line(exc)}; choose a smaller model or a machine with more memory"
            ) from None
        did = (
            f"called sys.exit({exc.code!r})"
            if isinstance(exc, SystemExit)
            else f"raised {type(exc).__name__}: {_first_line(exc)}"
        )
        raise PluginError(f"{what} (plugin package {source}) {did}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"
