"""What BaSS changes: each ``<recipe>+bass`` model against its ``<recipe>`` twin.

Twins share the architecture, the base recipe, the model transform and the threat model's
norm, so that the delta
isolates Balanced Spectrum Sampling (Lin et al., NeurIPS 2023). A pair evaluated under
different protocols is still shown, with the difference in its Notes.
"""

from __future__ import annotations

import pandas as pd

from freqbench.leaderboard.extract import BoundColumn, columns
from freqbench.leaderboard.table import Column, Table
from freqbench.recipes import BASS_SUFFIX
from freqbench.records import Record

_PROTOCOL_KEYS = ("eps", "n_examples", "autoattack_n_examples")


def _twin_key(record: Record, recipe: str) -> tuple[object, ...]:
    transform = record.get("model", "transform")
    return (
        record.get("model", "architecture"),
        recipe,
        repr(transform),
        record.data["protocol"]["norm"],
    )


def bass_pairs(records: list[Record]) -> list[tuple[Record, Record]]:
    """(base, bass) pairs, in a stable order: by architecture, recipe, then names."""
    bases: dict[tuple[object, ...], list[Record]] = {}
    for record in records:
        recipe = record.get("model", "recipe")
        if recipe and not recipe.endswith(BASS_SUFFIX):
            bases.setdefault(_twin_key(record, recipe), []).append(record)
    pairs = []
    for record in records:
        recipe = record.get("model", "recipe")
        if recipe and recipe.endswith(BASS_SUFFIX):
            for base in bases.get(_twin_key(record, recipe.removesuffix(BASS_SUFFIX)), []):
                pairs.append((base, record))
    return sorted(
        pairs,
        key=lambda p: (
            p[0].get("model", "architecture"),
            p[0].get("model", "recipe"),
            p[0].name,
            p[1].name,
        ),
    )


def delta(bound: BoundColumn, base: Record, bass: Record) -> float | None:
    """bass - base, in percentage points for accuracies; None when either lacks the number."""
    a, b = bound.value(base), bound.value(bass)
    if a is None or b is None:
        return None
    return (b - a) * (100 if bound.percent else 1)


def _protocol_note(base: Record, bass: Record) -> str:
    differ = []
    for key in _PROTOCOL_KEYS:
        a, b = base.data["protocol"][key], bass.data["protocol"][key]
        if a != b:
            differ.append(f"{key} {a:g} vs {b:g}")
    return "protocols differ: " + ", ".join(differ) if differ else ""


def bass_table(records: list[Record]) -> Table:
    table = [
        Column("architecture", "Architecture", "text"),
        Column("recipe", "Recipe", "text", "the base recipe"),
        Column("bass_mode", "BaSS mode", "text"),
        Column("base", "Without BaSS", "text"),
        Column("with_bass", "With BaSS", "text"),
    ]
    deltas = [bound for bound in columns() if bound.column.bass_delta]
    for bound in deltas:
        kind = "delta_pp" if bound.percent else "delta"
        table.append(
            Column(f"d_{bound.key}", f"Δ {bound.title}", kind, f"change in {bound.description}")
        )
    table.append(Column("notes", "Notes", "text"))
    rows = []
    for base, bass in bass_pairs(records):
        row: dict[str, object] = {
            "architecture": base.get("model", "architecture"),
            "recipe": base.get("model", "recipe"),
            "bass_mode": bass.get("model", "bass_mode") or "",
            "base": base.name,
            "with_bass": bass.name,
            "notes": _protocol_note(base, bass),
        }
        row.update({f"d_{bound.key}": delta(bound, base, bass) for bound in deltas})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[c.key for c in table])
    readings = ["accuracies in percentage points"]
    readings += [bound.column.bass_note for bound in deltas if bound.column.bass_note]
    notes = [
        "Δ = with BaSS minus without, for models that share architecture, base recipe and "
        f"transform; {', '.join(readings)}."
    ]
    return Table(
        "bass", "What BaSS changes", table, frame, notes,
        empty="No recipe has both a plain and a +bass model here yet.",
    )  # fmt: skip
