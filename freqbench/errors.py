"""Errors that mean "the user asked for something wrong" or "a plugin misbehaved", as opposed
to freqbench's own bugs.

The CLI turns a :class:`UserError` into a one-line message and exit code 2, and a
:class:`PluginError` into one line and exit code 1, with no traceback. A UserError subclasses
``ValueError`` so that Python callers can catch it the usual way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

LISTABLE = ("architecture", "dataset", "recipe", "metric")


class UserError(ValueError):
    """Bad input from the user: a wrong name, option, file or tensor."""


class PluginError(RuntimeError):
    """An installed plugin's code failed or broke its contract (raised, exited, returned the
    wrong thing): the message names the plugin, its package and what it did."""


class UnknownNameError(UserError, KeyError):
    """A registry lookup failed; the message carries close-match suggestions."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind, self.name = kind, name
        known = list(known)
        self.suggestions = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        if kind in LISTABLE:
            see = f" Run `freqbench list {kind}s` to see all."
        else:
            see = f" Known: {', '.join(known[:12])}{', ...' if len(known) > 12 else ''}."
        super().__init__(f"unknown {kind} '{name}'.{hint}{see}")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]
