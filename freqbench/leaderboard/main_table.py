"""The main table: one row per model, ranked by robust accuracy, then clean accuracy (RobustBench breaks no ties).

Like is ranked with like: only the rows whose protocol is the dataset's standard one, and
whose model is not degenerate (near chance, collapsed predictions, robust without
adversarial training), are ranked; the others go to a second table, "Not ranked", with the
same metric columns, each row saying why, and no rank. Its metric columns are those
the metrics declare ``main``; an accuracy whose metric declares its number of images
(``count``) carries its 95% Wilson interval, and the ranked rows whose intervals of the ranking
column overlap share a rank group. Flags a metric raises about its own result (AutoAttack's
checks) are named in the Notes column beside the model and explained in the legend.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from freqbench.leaderboard.extract import (
    BoundColumn,
    columns,
    raised_flags,
    rank_column,
    view_card,
)
from freqbench.leaderboard.intervals import rank_groups
from freqbench.leaderboard.protocols import why_not_ranked
from freqbench.leaderboard.table import Column, Table, bound_keys
from freqbench.metrics import MetricSpec
from freqbench.protocol import describe_standard, format_eps
from freqbench.records import Record

UNRANKED_TITLE = "Not ranked"


def _main_columns(specs: Sequence[MetricSpec]) -> list[BoundColumn]:
    return [bound for bound in columns(specs) if bound.column.main]


def _title(bound: BoundColumn, records: list[Record]) -> str:
    template = bound.column.main_title or bound.title
    return template.format(**bound.context(records))


def _group_description(ranking: BoundColumn) -> str:
    return f"rows whose 95% intervals of {ranking.title} overlap (see the legend)"


def _columns(
    threat_model: str,
    metric_columns: list[BoundColumn],
    records: list[Record],
    specs: Sequence[MetricSpec],
    *,
    ranked: bool,
    groups: bool,
) -> list[Column]:
    table = []
    if ranked:
        table.append(Column("rank", "Rank", "int"))
        if groups:
            table.append(
                Column(
                    "group", "Group", "int", _group_description(rank_column(threat_model, specs))
                )
            )
    table.append(Column("model", "Model", "text"))
    if not ranked:
        table.append(
            Column(
                "why",
                "Why not ranked",
                "text",
                "how the protocol differs from the standard, or why the model looks degenerate",
            )
        )
    table += [
        Column("notes", "Notes", "text", "warnings the metrics raised about their own results"),
        Column("architecture", "Architecture", "text"),
        Column("recipe", "Recipe", "text", "training recipe"),
        Column("bass", "BaSS", "text", "Balanced Spectrum Sampling mode (augment or dataset)"),
    ]
    if not view_card(threat_model, specs).bounded:
        table.append(
            Column("threat", "Threat model", "text", "norm and eps of the AutoAttack column")
        )
    table += [
        Column(
            b.key,
            _title(b, records),
            "percent" if b.percent else "number",
            b.description,
            interval=b.has_interval,
        )
        for b in metric_columns
    ]
    table += [
        Column("extra_data", "Extra data", "text", "trained with data beyond the training set"),
        Column("venue", "Venue", "text"),
    ]
    return table


def _row(
    record: Record, metric_columns: list[BoundColumn], specs: Sequence[MetricSpec]
) -> dict[str, object]:
    protocol = record.data["protocol"]
    row: dict[str, object] = {
        "model": record.name,
        "why": "; ".join(why_not_ranked(record, specs)),
        "notes": "; ".join(
            [flag.name for flag in raised_flags(record, specs)]
            + (["footnote"] if _footnote(record) else [])
        ),
        "architecture": record.get("model", "architecture"),
        "recipe": record.get("model", "recipe") or "",
        "bass": record.get("model", "bass_mode") or "",
        "threat": f"{protocol['norm']} {format_eps(protocol['eps'])}",
        "extra_data": "yes" if record.get("model_info", "additional_data") else "no",
        "venue": record.get("model_info", "venue") or "",
    }
    for bound in metric_columns:
        row[bound.key] = bound.shown(record)
        if bound.has_interval:
            interval = bound.interval(record)
            low, high, n = bound_keys(bound.key)
            row[low], row[high] = (
                (100 * interval[0], 100 * interval[1]) if interval else (None,) * 2
            )
            row[n] = bound.count(record)
    return row


def _frame(
    records: list[Record],
    metric_columns: list[BoundColumn],
    table: list[Column],
    rank_key: str,
    specs: Sequence[MetricSpec],
) -> pd.DataFrame:
    """The rows in ranking order: the ranking column, then clean accuracy, high to low."""
    keys = [k for c in table for k in ((c.key, *bound_keys(c.key)) if c.interval else (c.key,))]
    frame = pd.DataFrame([_row(r, metric_columns, specs) for r in records], columns=keys)
    order = [k for k in (rank_key, "clean", "model") if k in frame.columns]
    frame = frame.sort_values(
        order,
        ascending=[False] * (len(order) - 1) + [True],
        na_position="last",
        kind="stable",
    ).reset_index(drop=True)
    if "rank" in frame.columns:
        frame["rank"] = range(1, len(frame) + 1)
    for column in table:
        if column.interval:  # counts stay integers in the CSV, missing ones empty
            n = bound_keys(column.key)[2]
            frame[n] = pd.Series([_int(v) for v in frame[n]], dtype=object)
    return frame[keys]


def _int(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _groups(frame: pd.DataFrame, ranking: BoundColumn) -> list[int | None]:
    low, high, _ = bound_keys(ranking.key)
    intervals = [
        None if pd.isna(a) or pd.isna(b) else (float(a), float(b))
        for a, b in zip(frame[low], frame[high], strict=True)
    ]
    return rank_groups(intervals)


def _column_legend(records: list[Record], metric_columns: list[BoundColumn]) -> list[str]:
    """The ± convention, then each column's legend: an accuracy column's on a line of its own,
    the statistics' together on one line."""
    notes = []
    with_interval = [b for b in metric_columns if b.has_interval]
    if with_interval:
        titles = _join([_title(b, records) for b in with_interval])
        notes.append(
            f"{titles}: ± is the larger side of the 95% Wilson score interval of the accuracy "
            "over the n test images it was measured on (its bounds and n: hover a cell on the "
            "HTML page, or the CSV's columns)."
        )
    statistics = []
    for bound in metric_columns:
        if bound.column.legend:
            text = bound.column.legend.format(**bound.context(records))
            (notes if bound.percent else statistics).append(text)
    if statistics:
        notes.append(" ".join(statistics))
    return notes


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _flags_legend(records: list[Record], specs: Sequence[MetricSpec]) -> list[str]:
    raised = {flag.name: flag for record in records for flag in raised_flags(record, specs)}
    notes = [f"{name}: {flag.legend}" for name, flag in raised.items()]
    by_text: dict[str, list[str]] = {}
    for record in sorted(records, key=lambda r: r.name):
        if _footnote(record):
            by_text.setdefault(_footnote(record), []).append(record.name)
    footnotes = [f"{', '.join(names)}: {text}" for text, names in by_text.items()]
    return notes + [f"footnote of {line}" for line in footnotes]


def _footnote(record: Record) -> str:
    """The model's footnote (its zoo entry's, as RobustBench's model_info holds it)."""
    text = record.get("model_info", "footnote")
    return text.strip() if isinstance(text, str) else ""


def _norms(records: list[Record]) -> set[str]:
    return {record.data["protocol"]["norm"] for record in records}


def _legend(
    ranked: list[Record],
    off: list[Record],
    threat_model: str,
    dataset: str,
    metric_columns: list[BoundColumn],
    groups: bool,
    specs: Sequence[MetricSpec],
) -> list[str]:
    """The ranking rule and its groups, each column's legend, the protocol, the flags raised."""
    ranking = rank_column(threat_model, specs)
    noun = ranking.column.rank_noun
    notes = [
        f"Ranked by {noun}, ties by clean accuracy (RobustBench ranks by robust accuracy alone); only models evaluated "
        "with the standard protocol, and not degenerate, are ranked. Accuracies in %."
    ]
    if groups:
        notes.append(
            f"Group: rank groups of {ranking.title}. Going down the ranking, a model opens a new "
            f"group when the 95% interval of its {ranking.title} accuracy does not overlap the "
            "interval of the group's first model, and joins that group otherwise: the "
            "evaluation's number of images does not separate the first model of a group from "
            "the others in it."
        )
    notes += _column_legend(ranked, metric_columns)
    standard = describe_standard(dataset, _norms(ranked + off))
    if standard is not None:
        notes.append(f"Standard protocol for {dataset}: {standard}.")
    if off:
        notes.append(
            f"{len(off)} more model{' is' if len(off) == 1 else 's are'} listed under "
            f"“{UNRANKED_TITLE}”, each with why: a protocol that differs from the standard one, "
            "or a model that looks degenerate."
        )
    return notes + _flags_legend(ranked, specs)


def _unranked_legend(
    off: list[Record],
    threat_model: str,
    dataset: str,
    metric_columns: list[BoundColumn],
    specs: Sequence[MetricSpec],
) -> list[str]:
    noun = rank_column(threat_model, specs).column.rank_noun
    notes = [
        "Not ranked, for the reason each row gives: a protocol that differs from the standard "
        "one makes its numbers comparable neither with the ranked table's nor with each "
        "other's; a degenerate model (clean accuracy within 2x chance, predictions in fewer "
        "than half the classes, or robust without adversarial training: more than half its "
        "clean accuracy left under AutoAttack) has numbers that mean nothing. Listed by "
        f"{noun}, then clean accuracy. Accuracies in %."
    ]
    notes += _column_legend(off, metric_columns)
    standard = describe_standard(dataset, _norms(off))
    if standard is not None:
        notes.append(f"Standard protocol for {dataset}: {standard}.")
    return notes + _flags_legend(off, specs)


def main_tables(
    records: list[Record], threat_model: str, dataset: str, specs: Sequence[MetricSpec]
) -> tuple[Table, Table | None]:
    """The ranked table of the ``records`` (already selected for ``threat_model``) evaluated
    with the standard protocol and not degenerate, and the table of the others (None when
    there are none); the columns are those of the board's metrics ``specs``."""
    metric_columns = [
        bound
        for bound in _main_columns(specs)
        if not bound.column.optional or any(bound.value(r) is not None for r in records)
    ]
    ranking = rank_column(threat_model, specs)
    groups = ranking.column.main and ranking.has_interval
    ranked = [r for r in records if not why_not_ranked(r, specs)]
    off = [r for r in records if why_not_ranked(r, specs)]
    title = view_card(threat_model, specs).board_title

    table = _columns(threat_model, metric_columns, ranked, specs, ranked=True, groups=groups)
    frame = _frame(ranked, metric_columns, table, ranking.key, specs)
    if groups:
        frame["group"] = pd.Series(_groups(frame, ranking), dtype=object)
    notes = _legend(ranked, off, threat_model, dataset, metric_columns, groups, specs)
    empty = f"No model here is ranked; see “{UNRANKED_TITLE}”."
    main = Table("main", title, table, frame, notes, empty=empty)
    if not off:
        return main, None

    table = _columns(threat_model, metric_columns, off, specs, ranked=False, groups=False)
    frame = _frame(off, metric_columns, table, ranking.key, specs)
    notes = _unranked_legend(off, threat_model, dataset, metric_columns, specs)
    return main, Table("unranked", UNRANKED_TITLE, table, frame, notes)


def main_table(
    records: list[Record], threat_model: str, dataset: str, specs: Sequence[MetricSpec]
) -> Table:
    """The ranked table alone (see :func:`main_tables`)."""
    return main_tables(records, threat_model, dataset, specs)[0]
