"""A leaderboard view: the records of one dataset under one threat model, as up to four tables.

There is one view per threat-model card (:mod:`freqbench.threat_models`) whose ranking
column the board shows. A bounded view (Linf, L2, L1) holds the records evaluated at that
norm (robust accuracies at different norms are never ranked together); a corruption view
re-ranks every record that has its metric's block, whatever its norm, and so has only the
main table (and the unranked one): BaSS deltas and correlations with robust accuracy belong
to one norm. The main table
ranks the records evaluated with the dataset's standard protocol; the others, when there are
any, follow in a table of their own, unranked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from freqbench.errors import UnknownNameError, UserError
from freqbench.leaderboard.bass_twins import bass_table
from freqbench.leaderboard.correlation import correlation_table
from freqbench.leaderboard.extract import rank_column, view_card, views
from freqbench.leaderboard.main_table import main_tables
from freqbench.leaderboard.published_table import published_board, published_table
from freqbench.leaderboard.table import Table
from freqbench.metrics import MetricSpec, builtin_metrics
from freqbench.records import Record
from freqbench.threat_models import DEFAULT


@dataclass(frozen=True)
class Leaderboard:
    dataset: str
    threat_model: str
    records: list[Record]
    main: Table
    unranked: Table | None  # rows of another protocol or of degenerate models; None: none
    bass: Table | None
    correlation: Table | None
    specs: tuple[MetricSpec, ...] = ()  # the metrics the board shows (leaderboard.toml)
    published: Table | None = None  # RobustBench's board for the view, where it publishes one

    @property
    def tables(self) -> list[Table]:
        tables = (self.main, self.unranked, self.published, self.bass, self.correlation)
        return [t for t in tables if t is not None]

    def table(self, key: str) -> Table:
        for table in self.tables:
            if table.key == key:
                return table
        if key == "unranked" and self.unranked is None:
            raise UserError(
                f"every model of the {self.dataset} {self.threat_model} view is ranked: there is "
                "no unranked table"
            )
        raise UnknownNameError("table", key, [t.key for t in self.tables])


def select(records: list[Record], threat_model: str, specs: Sequence[MetricSpec]) -> list[Record]:
    if threat_model not in views(specs):
        raise UnknownNameError("threat model", threat_model, views(specs))
    if view_card(threat_model, specs).bounded:
        return [r for r in records if r.data["protocol"]["norm"] == threat_model]
    ranking = rank_column(threat_model, specs).spec.name
    return [r for r in records if r.block(ranking) is not None]


def _nothing_for(records: list[Record], dataset: str, threat_model: str) -> UserError:
    norms = Counter(r.data["protocol"]["norm"] for r in records)
    found = ", ".join(f"{n} {norm}" for norm, n in sorted(norms.items()))
    hint = f" (it has: {found} records; pick one with --threat-model)" if found else ""
    return UserError(f"no {threat_model} records for {dataset}{hint}")


def build_leaderboard(
    records: list[Record],
    dataset: str,
    threat_model: str = DEFAULT,
    sort_by: str | None = None,
    specs: Sequence[MetricSpec] | None = None,
) -> Leaderboard:
    """The tables of one view, with the columns of the metrics ``specs`` (default: the
    built-in ones; a folder's are :func:`~freqbench.leaderboard.config.board_metrics`);
    ``sort_by`` reorders the main and unranked tables (ranks stay)."""
    specs = tuple(specs) if specs is not None else tuple(builtin_metrics())
    others = sorted({r.dataset for r in records} - {dataset})
    if others:
        raise UserError(f"records of {', '.join(others)} cannot enter the {dataset} leaderboard")
    chosen = select(records, threat_model, specs)
    published = published_table(dataset, threat_model, records)
    if not chosen and published is None:
        raise _nothing_for(records, dataset, threat_model)
    main, unranked = main_tables(chosen, threat_model, dataset, specs)
    if not chosen:
        zoo_run = f"freqbench zoo run --dataset {dataset} --threat-model {threat_model}"
        empty = f"No freqbench records for this view yet (`{zoo_run}`)."
        main = replace(main, empty=empty, notes=[])
    if sort_by:
        main = main.sorted_by(sort_by)
        if unranked is not None and _has_column(unranked, sort_by):
            unranked = unranked.sorted_by(sort_by)  # it has no rank or group to sort by
    if not view_card(threat_model, specs).bounded or not chosen:
        return Leaderboard(
            dataset, threat_model, chosen, main, unranked, None, None, specs, published
        )
    return Leaderboard(
        dataset, threat_model, chosen, main, unranked,
        bass_table(chosen, specs), correlation_table(chosen, specs), specs, published,
    )  # fmt: skip


def _has_column(table: Table, name: str) -> bool:
    try:
        table.column(name)
    except UnknownNameError:
        return False
    return True


def all_views(
    records: list[Record], dataset: str, specs: Sequence[MetricSpec] | None = None
) -> list[Leaderboard]:
    """Every non-empty view of a dataset, in the order of :func:`views`: one with records, or
    one RobustBench publishes a board for."""
    specs = tuple(specs) if specs is not None else tuple(builtin_metrics())
    return [
        build_leaderboard(records, dataset, t, specs=specs)
        for t in views(specs)
        if select(records, t, specs) or published_board(dataset, t)
    ]
