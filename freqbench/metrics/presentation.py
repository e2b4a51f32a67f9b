"""How a metric is shown: the leaderboard's columns, legends and ranks, its model cards and
the summary printed after an evaluation.

A :class:`Presentation` rides on the metric's :class:`~freqbench.metrics.spec.MetricSpec`
(so a plugin ships both in one package), but nothing in it changes what the metric computes
or how its block is keyed: a new page view changes this module, never the computation.
A column's ``model_info`` names the RobustBench ``model_info`` key that repeats its number in
percent, which the record holds (:mod:`freqbench.records.format`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Rows = list[tuple[str, str]]


@dataclass(frozen=True)
class Column:
    """One number a metric reports, as the leaderboard shows it.

    ``path`` leads to the value inside the metric's block (``read`` replaces it when the place
    depends on the block, e.g. the headline radius). ``title`` and ``legend`` may hold
    ``{placeholders}`` that the metric's ``table_context`` fills from the records of a table.
    """

    key: str  # unique across metrics: a column key and a --sort-by name
    title: str  # short: correlation rows, BaSS deltas
    description: str
    path: tuple[str, ...] = ()
    read: Callable[[Mapping[str, Any]], Any] | None = None
    percent: bool = False  # a fraction (accuracy, error rate) shown in percent
    higher_is_better: bool | None = None
    main: bool = False  # a column of the main table
    correlate: bool = False  # a row of the rank-correlation table
    bass_delta: bool = False  # a column of the BaSS table (with minus without)
    headline: bool = False  # one of a model card's headline facts
    rank_noun: str = ""  # "AutoAttack robust accuracy": what "Ranked by ..." says
    model_info: str | None = None  # the RobustBench model_info key that repeats it in percent
    legend: str = ""  # one sentence under the main table
    main_title: str = ""  # the main table's title, when it says more than ``title``
    bass_note: str = ""  # how the BaSS table's legend reads its delta, when not in points
    # Where the block holds the number of images an accuracy was measured on (like ``path``,
    # e.g. ``("n",)``): with it the leaderboard shows the accuracy's 95% (Wilson) interval,
    # and a view ranked by the column groups the rows whose intervals overlap.
    count: tuple[str, ...] = ()
    # Shown only in tables where some record has it (a number only some datasets report).
    optional: bool = False

    def value(self, block: Mapping[str, Any] | None) -> float | None:
        """The number in ``block``; None when missing, not a number, or NaN."""
        if block is None:
            return None
        if self.read is not None:
            value = self.read(block)
        else:
            value = block
            for key in self.path:
                if not isinstance(value, Mapping) or key not in value:
                    return None
                value = value[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return None if math.isnan(value) else float(value)


@dataclass(frozen=True)
class Presentation:
    """A metric's columns, and what the pages and printouts say about it beside them."""

    columns: tuple[Column, ...] = ()
    headline: Callable[[Mapping[str, Any]], Rows] | None = None  # rows of the printed summary
    # ``{placeholders}`` of the columns' titles and legends, from the blocks of one table.
    table_context: Callable[[list[Mapping[str, Any]]], dict[str, str]] | None = None
    card_facts: Callable[[Mapping[str, Any]], Rows] | None = None  # facts on a model's card
    correlation_note: str = ""  # a sentence under the rank-correlation table
