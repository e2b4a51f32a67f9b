"""The published RobustBench board beside freqbench's measurements, never mixed silently.

Each row is one entry of RobustBench's board for the view's dataset and threat model, in
RobustBench's order (:func:`freqbench.published.rank_as_robustbench`), with its published
clean and robust accuracy marked as published. Where a record measured the same entry
(``robustbench:<dataset>/<threat_model>/<Name>``), its own clean and AutoAttack accuracies
follow with their 95% intervals and the difference from the published figure; a published
figure outside the measured interval is flagged, since the two should agree within the
sample's uncertainty when the entry, its preprocessing and the attack are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from freqbench.errors import UnknownNameError
from freqbench.leaderboard.intervals import wilson
from freqbench.leaderboard.table import Column, Table, bound_keys
from freqbench.published import (
    PublishedEntry,
    published_entries,
    rank_as_robustbench,
    snapshot_provenance,
)
from freqbench.records import Record

PREFIX = "robustbench:"
ROUNDING = 0.005  # percentage points: RobustBench publishes accuracies to two decimals
NOTE = (
    "Published: RobustBench's own figures (freqbench.published, snapshot of {source} at "
    "{commit}), not re-run by freqbench; ranked as RobustBench ranks, by the best known "
    "robust accuracy. Measured: this folder's records of the same entry, with 95% Wilson "
    "intervals; Δ = measured - published, flagged (!) when the published figure lies outside "
    "the measured interval. A corruption accuracy's difference is not flagged: it is a mean "
    "over 75 cells of the same images (no binomial interval), and only the release files "
    "(CIFAR-10-C, ImageNet-C) give RobustBench's cells; generated ones differ."
)


def published_board(dataset: str, threat_model: str) -> list[PublishedEntry]:
    """The published entries of the board in RobustBench's order; empty when RobustBench
    publishes no such board (Fashion-MNIST, an L2 board of ImageNet, ...)."""
    try:
        entries = published_entries(dataset, threat_model)
    except UnknownNameError:  # a dataset or threat model RobustBench has no board for
        return []
    return rank_as_robustbench(entries) if entries else []


def published_table(dataset: str, threat_model: str, records: Sequence[Record]) -> Table | None:
    """The table, or None when RobustBench publishes no board for the view."""
    entries = published_board(dataset, threat_model)
    if not entries:
        return None
    measured = _measured(records, dataset, threat_model)
    field = entries[0].robust_field
    columns = [
        Column("rank", "Rank", "int", "RobustBench's rank on its own board"),
        Column("model", "Model", "text", "the entry's name in RobustBench's model zoo"),
        Column("venue", "Venue", "text"),
        Column("architecture", "Architecture", "text"),
        Column("extra_data", "Extra data", "text", "trained with data beyond the training set"),
        Column("published_clean", "Clean (published)", "percent"),
        Column("published_robust", f"{_title(field)} (published)", "percent"),
        Column("best_known", "Best known (published)", "percent", "RobustBench's ranking figure"),
        Column("clean", "Clean (measured)", "percent", interval=True),
        Column("clean_delta", "Δ clean", "delta_pp"),
    ]
    if field == "autoattack_acc":
        columns += [
            Column("robust", "AutoAttack (measured)", "percent", interval=True),
            Column("robust_delta", "Δ AutoAttack", "delta_pp"),
        ]
    elif field == "corruptions_acc":
        columns += [
            Column("robust", "Corruptions (measured)", "percent", "mean over the 75 cells"),
            Column("robust_delta", "Δ corruptions", "delta_pp", "not flagged: see the notes"),
        ]
    columns.append(Column("check", "Check", "text", "! a published figure outside the interval"))
    rows = [_row(rank, entry, measured.get(entry.name)) for rank, entry in enumerate(entries, 1)]
    frame = pd.DataFrame(rows, columns=_frame_columns(columns))
    provenance = snapshot_provenance()
    note = NOTE.format(source=provenance["source"], commit=provenance["commit"][:7])
    return Table(
        "published",
        f"Published on RobustBench ({dataset}, {threat_model}): {len(rows)} entries, "
        f"{len(measured)} measured here",
        columns,
        frame,
        [note],
    )


def _title(field: str) -> str:
    return {"autoattack_acc": "AutoAttack", "corruptions_acc": "Corruptions"}.get(
        field, field.removesuffix("_acc").replace("_", " ").capitalize()
    )


def _frame_columns(columns: list[Column]) -> list[str]:
    keys = []
    for column in columns:
        keys.append(column.key)
        if column.interval:
            keys += bound_keys(column.key)
    return keys


def _measured(records: Sequence[Record], dataset: str, threat_model: str) -> dict[str, Record]:
    """Records of the board's entries, by entry name (the record's model source says which)."""
    board = f"{PREFIX}{dataset}/{threat_model}/"
    found = {}
    for record in records:
        source = record.get("model", "source") or ""
        if source.startswith(board):
            found[source.removeprefix(board)] = record
    return found


def _row(rank: int, entry: PublishedEntry, record: Record | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "rank": rank,
        "model": entry.name,
        "venue": entry.venue.replace("<br>", " "),
        "architecture": entry.architecture,
        "extra_data": "yes" if entry.additional_data else "no",
        "published_clean": entry.clean_acc,
        "published_robust": entry.robust_acc,
        "best_known": entry.best_known_acc,
    }
    flags = []
    clean = record.block("clean") if record else None
    if clean:
        flags += _compare(row, "clean", clean["accuracy"], clean["n"], entry.clean_acc)
    attack = record.block("autoattack") if record else None
    if attack and entry.robust_field == "autoattack_acc" and _same_threat(attack, entry):
        flags += _compare(row, "robust", attack["robust_accuracy"], attack["n"], entry.robust_acc)
    corrupted = record.block("corruptions") if record else None
    if corrupted and entry.robust_field == "corruptions_acc":
        row["robust"] = 100 * corrupted["mean"]
        row["robust_delta"] = 100 * corrupted["mean"] - entry.robust_acc
    row["check"] = "; ".join(flags)
    return row


def _same_threat(block: dict[str, Any], entry: PublishedEntry) -> bool:
    """The block attacked the board's norm at its eps ("8/255" is published as text)."""
    if block.get("norm") != entry.threat_model or entry.eps is None:
        return False
    numerator, _, denominator = entry.eps.partition("/")
    eps = float(numerator) / float(denominator or 1)
    return abs(block.get("eps", -1) - eps) < 1e-6


def _compare(row: dict[str, Any], key: str, accuracy: float, n: int, published: float) -> list[str]:
    """Fill the measured value (percent), its interval and Δ; a flag when the published
    figure lies outside the interval."""
    low, high = wilson(accuracy, n)
    low_key, high_key, n_key = bound_keys(key)
    row[key], row[low_key], row[high_key], row[n_key] = 100 * accuracy, 100 * low, 100 * high, n
    row[f"{key}_delta"] = 100 * accuracy - published
    # published figures are rounded to hundredths: half of one is within any interval
    if not 100 * low - ROUNDING <= published <= 100 * high + ROUNDING:
        what = "clean" if key == "clean" else "AutoAttack"
        return [f"! {what} {published:.2f} published, outside [{100 * low:.2f}, {100 * high:.2f}]"]
    return []
