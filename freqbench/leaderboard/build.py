"""A leaderboard view: the records of one dataset under one threat model, as three tables.

Linf and L2 views hold the records evaluated at that norm (robust accuracies at different
norms are never ranked together); the corruptions view re-ranks every record that has
corruption accuracy, whatever its norm, and so has only the main table: BaSS deltas and
correlations with robust accuracy belong to one norm.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from freqbench.errors import UnknownNameError, UserError
from freqbench.leaderboard.bass import bass_table
from freqbench.leaderboard.correlation import correlation_table
from freqbench.leaderboard.extract import NORMS, rank_column, views
from freqbench.leaderboard.main_table import main_table
from freqbench.leaderboard.table import Table
from freqbench.records import Record


@dataclass(frozen=True)
class Leaderboard:
    dataset: str
    threat_model: str
    records: list[Record]
    main: Table
    bass: Table | None
    correlation: Table | None

    @property
    def tables(self) -> list[Table]:
        return [t for t in (self.main, self.bass, self.correlation) if t is not None]

    def table(self, key: str) -> Table:
        for table in self.tables:
            if table.key == key:
                return table
        raise UnknownNameError("table", key, [t.key for t in self.tables])


def select(records: list[Record], threat_model: str) -> list[Record]:
    if threat_model not in views():
        raise UnknownNameError("threat model", threat_model, views())
    if threat_model in NORMS:
        return [r for r in records if r.data["protocol"]["norm"] == threat_model]
    ranking = rank_column(threat_model).spec.name
    return [r for r in records if r.block(ranking) is not None]


def _nothing_for(records: list[Record], dataset: str, threat_model: str) -> UserError:
    norms = Counter(r.data["protocol"]["norm"] for r in records)
    found = ", ".join(f"{n} {norm}" for norm, n in sorted(norms.items()))
    hint = f" (it has: {found} records; pick one with --threat-model)" if found else ""
    return UserError(f"no {threat_model} records for {dataset}{hint}")


def build_leaderboard(
    records: list[Record], dataset: str, threat_model: str = "Linf", sort_by: str | None = None
) -> Leaderboard:
    """The three tables of one view; ``sort_by`` reorders the main table (ranks stay)."""
    others = sorted({r.dataset for r in records} - {dataset})
    if others:
        raise UserError(f"records of {', '.join(others)} cannot enter the {dataset} leaderboard")
    chosen = select(records, threat_model)
    if not chosen:
        raise _nothing_for(records, dataset, threat_model)
    main = main_table(chosen, threat_model, dataset)
    if sort_by:
        main = main.sorted_by(sort_by)
    if threat_model not in NORMS:
        return Leaderboard(dataset, threat_model, chosen, main, None, None)
    return Leaderboard(
        dataset, threat_model, chosen, main, bass_table(chosen), correlation_table(chosen)
    )


def all_views(records: list[Record], dataset: str) -> list[Leaderboard]:
    """Every non-empty view of a dataset, in the order of :func:`views`."""
    return [build_leaderboard(records, dataset, t) for t in views() if select(records, t)]
