"""A block proves its own counts: every accuracy is a whole number of images over its n.

A metric that measures accuracies stores the integer counts beside them (correct images per
radius, per cell, per attack), and declares a ``check`` (:attr:`MetricSpec.check`) built
from the helpers here. The records layer runs it on every stored block: an accuracy that is
not its count over n (``0.99`` of 20 images), or a count above n, makes the block untrusted,
so the evaluator runs it again and ``validate`` and the leaderboard name it. A block written
before counts were stored (their fields are optional) must still be a whole number of images
over n.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

#: Accuracies are float32 means of 0/1 flags: n x fraction lies within a few float32 ulps of
#: the count (2.4e-7 relative, twice float32's epsilon); any other number is far from it.
RELATIVE_TOLERANCE = 2.4e-7


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def fraction_problems(where: str, fraction: Any, n: Any, count: Any = None) -> list[str]:
    """Why ``fraction`` (at ``where``) is not ``count`` images out of ``n``; with no
    ``count`` stored, why it is no whole number of images out of ``n``."""
    if not (_number(fraction) and _whole(n)):
        return []  # the schema reports a missing or mistyped number
    if count is not None:
        if not _whole(count) or not 0 <= count <= n:
            return [f"{where}: count {count!r} is not a whole number of images in 0..{n}"]
        if abs(fraction * n - count) > RELATIVE_TOLERANCE * n + 1e-9:
            return [f"{where}: {fraction} is not its count {count} out of n = {n}"]
        return []
    implied = round(fraction * n)
    if abs(fraction * n - implied) > RELATIVE_TOLERANCE * n + 1e-9:
        return [
            f"{where}: {fraction} of n = {n} images is {fraction * n:g} images, not a whole "
            "number: the block was edited or damaged"
        ]
    return []


def keyed_problems(where: str, fractions: Any, n: Any, counts: Any = None) -> list[str]:
    """:func:`fraction_problems` for each key (or index) of ``fractions``, against the count
    under the same key of ``counts`` (None: counts not stored)."""
    if isinstance(fractions, Mapping):
        keys: Sequence[Any] = list(fractions)
    elif isinstance(fractions, list):
        keys = range(len(fractions))
    else:
        return []
    if counts is not None and not _same_keys(fractions, counts):
        return [f"{where}: its counts are not keyed as its accuracies"]
    found = []
    for key in keys:
        count = None if counts is None else counts[key]
        found += fraction_problems(f"{where}.{key}", fractions[key], n, count)
    return found


def _same_keys(fractions: Any, counts: Any) -> bool:
    if isinstance(fractions, Mapping):
        return isinstance(counts, Mapping) and set(counts) == set(fractions)
    return isinstance(counts, list) and len(counts) == len(fractions)


def mean_problems(where: str, value: Any, parts: Sequence[Any]) -> list[str]:
    """Why ``value`` (at ``where``) is not the plain mean of ``parts``."""
    numbers = [p for p in parts if _number(p)]
    if not _number(value) or not numbers or len(numbers) != len(parts):
        return []
    mean = math.fsum(numbers) / len(numbers)
    if abs(value - mean) > 1e-9 * max(1.0, abs(mean)):
        return [f"{where}: {value} is not the mean of its parts ({mean})"]
    return []
