"""The numbers a leaderboard shows, as the metrics declare them (:class:`freqbench.metrics.Column`).

Tables, BaSS deltas and correlations read records only through the registered metrics'
columns, so a column title or a record path is spelled once, in its metric's module, and a
plugin's columns appear like the built-in ones. Values are fractions as the record stores
them; a missing block or a NaN statistic reads as None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from freqbench.errors import UnknownNameError
from freqbench.leaderboard.intervals import Interval, wilson
from freqbench.metrics import Column, Flag, MetricSpec
from freqbench.records import Record
from freqbench.threat_models import ThreatModel, get_threat_model, threat_models


@dataclass(frozen=True)
class BoundColumn:
    """A metric's column, able to read its value from a record."""

    spec: MetricSpec
    column: Column

    @property
    def key(self) -> str:
        return self.column.key

    @property
    def title(self) -> str:
        return self.column.title

    @property
    def description(self) -> str:
        return self.column.description

    @property
    def percent(self) -> bool:
        return self.column.percent

    def value(self, record: Record) -> float | None:
        return self.column.value(record.block(self.spec.name))

    def shown(self, record: Record) -> float | None:
        """The value as tables show it: accuracies in percent."""
        value = self.value(record)
        return value * 100 if value is not None and self.percent else value

    @property
    def has_interval(self) -> bool:
        """Whether the metric says how many images the value was measured on."""
        return bool(self.column.count) and self.percent

    def count(self, record: Record) -> int | None:
        """The number of images behind the value (the column's ``count`` path), or None."""
        value: object = record.block(self.spec.name)
        for key in self.column.count or (None,):
            if key is None or not isinstance(value, Mapping) or key not in value:
                return None
            value = value[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            return None
        return value

    def interval(self, record: Record) -> Interval | None:
        """The value's 95% Wilson interval, as fractions; None without a value or a count."""
        value, n = self.value(record), self.count(record) if self.has_interval else None
        if value is None or n is None or not 0.0 <= value <= 1.0:
            return None
        return wilson(value, n)

    def context(self, records: list[Record]) -> dict[str, str]:
        """The placeholders of the metric's titles and legends, from ``records``' blocks."""
        if self.spec.presentation.table_context is None:
            return {}
        blocks = [b for b in (r.block(self.spec.name) for r in records) if b is not None]
        return self.spec.presentation.table_context(blocks)


def columns(specs: Sequence[MetricSpec]) -> list[BoundColumn]:
    """Every column of the board's metrics, in metric order, then declaration order."""
    return [BoundColumn(spec, column) for spec in specs for column in spec.presentation.columns]


def _ranking(card: ThreatModel, specs: Sequence[MetricSpec]) -> BoundColumn | None:
    """The column of the board's metrics that ranks ``card``'s view; None: not shown."""
    for bound in columns(specs):
        if bound.spec.name == card.metric and bound.key == card.column:
            return bound
    return None


def views(specs: Sequence[MetricSpec]) -> tuple[str, ...]:
    """The leaderboard views: one per threat-model card whose ranking column the board's
    metrics show, in the order of those columns, then of the cards."""
    shown = {bound.key: i for i, bound in enumerate(columns(specs))}
    ranked = [
        (shown[bound.key], card.order, card.name)
        for card in threat_models()
        if (bound := _ranking(card, specs)) is not None
    ]
    return tuple(name for *_, name in sorted(ranked))


def ranking_columns(specs: Sequence[MetricSpec]) -> list[BoundColumn]:
    """The columns that rank some view, each once, in column order."""
    keys = {bound.key for card in threat_models() if (bound := _ranking(card, specs))}
    return [bound for bound in columns(specs) if bound.key in keys]


def rank_column(view: str, specs: Sequence[MetricSpec]) -> BoundColumn:
    if view in views(specs):
        bound = _ranking(get_threat_model(view), specs)
        if bound is not None:
            return bound
    raise UnknownNameError("threat model", view, views(specs))


def view_card(view: str, specs: Sequence[MetricSpec]) -> ThreatModel:
    """The threat-model card of a view the board's metrics show."""
    rank_column(view, specs)  # an unknown or hidden view: the error names the shown ones
    return get_threat_model(view)


def raised_flags(record: Record, specs: Sequence[MetricSpec]) -> list[Flag]:
    """The warnings the board's metrics raise about their own results in ``record``."""
    flags = []
    for spec in specs:
        block = record.block(spec.name)
        if block is not None:
            flags += [flag for flag in spec.flags if flag.raised(block)]
    return flags
