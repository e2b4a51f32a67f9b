"""One registry of named cards for every kind: architectures, recipes, metrics, datasets, ...

Modelled on timm's ``register_model`` / ``list_models``: names are found exactly, listed with
shell-style wildcards, and a miss raises :class:`UnknownNameError` with suggestions. Built-in
entries may name their implementation as ``"module:attribute"`` (:func:`load_object`), so that
listing never imports torch. Installed packages add entries through the registry's entry-point
group, loaded on first use; each entry passes the same checks as a built-in one (its name's
form, no clash, the kind's own ``check``) or is left out with one warning naming its package,
and the package is recorded (:meth:`Registry.source`) for ``freqbench list`` and for
:meth:`Registry.guard`, which turns a plugin's failure at use into one clear error.

A new kind is one instance: ``Registry("dataset", "freqbench.datasets", adopt=...)``, where
``adopt(entry_name, loaded)`` turns what an entry point names into ``(name, card)`` pairs.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib
import re
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from freqbench.errors import PluginError, UnknownNameError, UserError

T = TypeVar("T")
#: ``(entry point's name, the object it names)`` -> the ``(name, card)`` pairs it adds; raise
#: to refuse it. The default adds the object itself under the entry point's name.
Adopt = Callable[[str, Any], Iterable[tuple[str, Any]]]
#: ``(name, card, the other cards)`` -> what clashes (nothing: it may register).
Check = Callable[[str, Any, list[Any]], list[str]]

_LIVE: weakref.WeakSet[Registry] = weakref.WeakSet()  # rechecked when the CLI hands names over


class Registry(Generic[T]):
    """Cards of one ``kind`` by name; plugins declare them in the entry-point ``group``.

    ``name_form`` is the regular expression every name matches (``name_rule`` says it in
    words); ``check`` is the kind's own test against the other cards, run as each registers
    and again when the CLI reserves its option names; ``builtins`` yields the built-in cards
    when the registry is first read (else built-ins register at import, ``builtin=True``).
    """

    def __init__(
        self,
        kind: str,
        group: str | None = None,
        *,
        adopt: Adopt | None = None,
        check: Check | None = None,
        name_form: str | None = None,
        name_rule: str = "",
        builtins: Callable[[], Iterable[tuple[str, T]]] | None = None,
    ):
        self.kind, self.group = kind, group
        self._adopt = adopt or (lambda name, loaded: [(name, loaded)])
        self._check, self._builtins = check, builtins
        self._name_form = re.compile(name_form) if name_form else None
        self._name_rule = name_rule
        self._items: dict[str, T] = {}
        self._builtin: set[str] = set()
        self._sources: dict[str, str] = {}  # plugin card -> "distribution version"
        self._builtins_loaded = builtins is None
        self._plugins_loaded = group is None
        _LIVE.add(self)

    def fresh(self) -> Registry[T]:
        """The same kind with its built-ins only and its plugins not loaded yet (for tests)."""
        copy: Registry[T] = Registry(self.kind, self.group, check=self._check)
        copy._adopt, copy._builtins, copy._builtins_loaded = (
            self._adopt, self._builtins, self._builtins_loaded,
        )  # fmt: skip
        copy._name_form, copy._name_rule = self._name_form, self._name_rule
        copy._items = {name: self._items[name] for name in self._items if name in self._builtin}
        copy._builtin = set(self._builtin)
        return copy

    # --- adding cards -----------------------------------------------------------------

    def register(self, name: str, item: T, *, builtin: bool = False) -> T:
        """Add ``item`` as ``name`` (``builtin``: it ships with freqbench); a name of the wrong
        form or a clash is a ValueError that says what to change. The same card again is a
        no-op."""
        self._ensure_builtins()
        if self._items.get(name) is item:
            return item
        self._refuse(name, item)
        self._items[name] = item
        if builtin:
            self._builtin.add(name)
        return item

    def _refuse(self, name: str, item: T) -> None:
        if self._name_form is not None and not self._name_form.match(name):
            raise ValueError(f"its name '{name}' must be {self._name_rule}")
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        problems = self._problems(name, item, list(self._items.values()))
        if problems:
            raise ValueError(f"{self.kind} '{name}': {'; '.join(problems)}")

    def _problems(self, name: str, item: T, others: list[T]) -> list[str]:
        return self._check(name, item, others) if self._check else []

    def _ensure_builtins(self) -> None:
        """The lazily declared built-ins, added together and then checked against each other
        (a built-in may read what another declares)."""
        if self._builtins_loaded:
            return
        self._builtins_loaded = True
        for name, item in self._builtins():
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._items[name] = item
            self._builtin.add(name)
        for name in sorted(self._builtin):
            others = [v for n, v in self._items.items() if n != name]
            problems = self._problems(name, self._items[name], others)
            if problems:
                raise ValueError(f"{self.kind} '{name}': {'; '.join(problems)}")

    def _ensure_loaded(self) -> None:
        self._ensure_builtins()
        if not self._plugins_loaded:
            self._plugins_loaded = True
            load_plugins(self.group, self.kind, self._load_entry)

    def _load_entry(self, entry: EntryPoint) -> None:
        """One entry point's cards (and any its module registers when imported), all or
        none: on any failure what it added is taken out again."""
        before = dict(self._items)
        try:
            for name, item in self._adopt(entry.name, entry.load()):
                self.register(name, item)
        except BaseException:
            self._items = before
            raise
        for name in self._items.keys() - before.keys():
            self._sources[name] = distribution(entry)

    def recheck(self) -> None:
        """Plugins that fail the checks now (the CLI reserved its option names after they
        loaded) are left out, with one warning each, as they would have been at load."""
        for name, source in sorted(self._sources.items()):
            others = [v for n, v in self._items.items() if n != name]
            problems = self._problems(name, self._items[name], others)
            if problems:
                del self._items[name], self._sources[name]
                warnings.warn(
                    f"freqbench: {self.kind} plugin '{name}' (package {source}) is left out: "
                    f"{'; '.join(problems)}",
                    stacklevel=3,
                )

    # --- reading them -----------------------------------------------------------------

    def get(self, name: str) -> T:
        self._ensure_loaded()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._items) from None

    def names(self, pattern: str | None = None) -> list[str]:
        """Every name (built-ins and plugins) in sorted order, or those ``pattern`` matches."""
        self._ensure_loaded()
        names = sorted(self._items)
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)] if pattern else names

    def values(self) -> list[T]:
        self._ensure_loaded()
        return list(self._items.values())

    def source(self, name: str) -> str | None:
        """The package (name and version) a plugin card came from; None for freqbench's own."""
        self._ensure_loaded()
        return self._sources.get(name)

    def is_builtin(self, name: str) -> bool:
        self._ensure_loaded()
        return name in self._builtin

    def guard(self, name: str) -> contextlib.AbstractContextManager[None]:
        """Around a call into the card's code: a plugin's failure is one clear error naming
        its package (:func:`plugin_code`)."""
        return plugin_code(f"{self.kind} '{name}'", self.source(name))

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


# The command line's option names as field names (``--cache-dir`` -> ``cache_dir``), handed
# over by the CLI from its own parsers: a plugin's protocol field must not take one.
_option_names: Callable[[], frozenset[str]] | None = None


def reserve_option_names(provider: Callable[[], frozenset[str]]) -> None:
    """Take the CLI's option names (``provider`` is called when a plugin's fields are
    checked); plugins loaded already are checked again now (:meth:`Registry.recheck`)."""
    global _option_names
    _option_names = provider
    for registry in list(_LIVE):
        registry.recheck()


def reserved_option_names() -> frozenset[str]:
    return _option_names() if _option_names is not None else frozenset()


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
                stacklevel=4,
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
