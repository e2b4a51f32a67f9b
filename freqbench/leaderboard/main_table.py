"""The main table: one row per model, ranked as RobustBench ranks (robust accuracy, then clean).

Its metric columns are those the metrics declare ``main``. Rows whose protocol differs from the
dataset's standard one, or whose metrics flagged their own result (AutoAttack's checks), stay
in the ranking but say so in the Notes column and the legend: they are shown, never silently
compared.
"""

from __future__ import annotations

import pandas as pd

from freqbench.leaderboard.extract import NORMS, BoundColumn, columns, raised_flags, rank_column
from freqbench.leaderboard.protocols import deviations
from freqbench.leaderboard.table import Column, Table
from freqbench.protocol import describe_standard, format_eps
from freqbench.records import Record


def _main_columns() -> list[BoundColumn]:
    return [bound for bound in columns() if bound.column.main]


def _title(bound: BoundColumn, records: list[Record]) -> str:
    template = bound.column.main_title or bound.title
    return template.format(**bound.context(records))


def _columns(threat_model: str, metric_columns: list[BoundColumn], records: list[Record]):
    table = [
        Column("rank", "Rank", "int"),
        Column("model", "Model", "text"),
        Column("architecture", "Architecture", "text"),
        Column("recipe", "Recipe", "text", "training recipe"),
        Column("bass", "BaSS", "text", "Balanced Spectrum Sampling mode (augment or dataset)"),
    ]
    if threat_model not in NORMS:
        table.append(
            Column("threat", "Threat model", "text", "norm and eps of the AutoAttack column")
        )
    table += [
        Column(b.key, _title(b, records), "percent" if b.percent else "number", b.description)
        for b in metric_columns
    ]
    table += [
        Column("extra_data", "Extra data", "text", "trained with data beyond the training set"),
        Column("venue", "Venue", "text"),
        Column("notes", "Notes", "text", "unreliable evaluations and non-standard protocols"),
    ]
    return table


def _row(record: Record, metric_columns: list[BoundColumn]) -> dict[str, object]:
    notes = [flag.name for flag in raised_flags(record)]
    notes += [f"non-standard: {d}" for d in deviations(record)]
    protocol = record.data["protocol"]
    row: dict[str, object] = {
        "model": record.name,
        "architecture": record.get("model", "architecture"),
        "recipe": record.get("model", "recipe") or "",
        "bass": record.get("model", "bass_mode") or "",
        "threat": f"{protocol['norm']} {format_eps(protocol['eps'])}",
        "extra_data": "yes" if record.get("model_info", "additional_data") else "no",
        "venue": record.get("model_info", "venue") or "",
        "notes": "; ".join(notes),
    }
    row.update({bound.key: bound.shown(record) for bound in metric_columns})
    return row


def _legend(
    records: list[Record], threat_model: str, dataset: str, metric_columns: list[BoundColumn]
) -> list[str]:
    """The ranking rule, then each column's legend: an accuracy column's on a line of its own,
    the statistics' together on one line; then the protocol and the flags raised."""
    ranked = rank_column(threat_model).column.rank_noun
    notes = [f"Ranked by {ranked}, ties by clean accuracy, as RobustBench ranks. Accuracies in %."]
    statistics = []
    for bound in metric_columns:
        if bound.column.legend:
            text = bound.column.legend.format(**bound.context(records))
            (notes if bound.percent else statistics).append(text)
    if statistics:
        notes.append(" ".join(statistics))
    standard = describe_standard(dataset)
    off = sum(1 for r in records if deviations(r))
    if standard is not None:
        notes.append(f"Standard protocol for {dataset}: {standard}.")
    if off:
        notes.append(
            f"{off} of {len(records)} models {'was' if off == 1 else 'were'} evaluated with a "
            f"protocol that differs from the standard one (see Notes): {'its' if off == 1 else 'their'} "
            "numbers are not directly comparable with the others."
        )
    raised = {flag.name: flag for record in records for flag in raised_flags(record)}
    notes += [f"{name}: {flag.legend}" for name, flag in raised.items()]
    return notes


def main_table(records: list[Record], threat_model: str, dataset: str) -> Table:
    """Rank ``records`` (already selected for ``threat_model``) and describe them row by row."""
    metric_columns = _main_columns()
    table_columns = _columns(threat_model, metric_columns, records)
    frame = pd.DataFrame([_row(r, metric_columns) for r in records])
    rank_key = rank_column(threat_model).key
    frame = frame.sort_values(
        [rank_key, "clean", "model"],
        ascending=[False, False, True],
        na_position="last",
        kind="stable",
    ).reset_index(drop=True)
    frame.insert(0, "rank", range(1, len(frame) + 1))
    frame = frame[[c.key for c in table_columns]]
    title = {"corruptions": "Common corruptions"}.get(threat_model, f"{threat_model} robustness")
    return Table(
        "main", title, table_columns, frame, _legend(records, threat_model, dataset, metric_columns)
    )
