"""What BaSS changes: each ``<recipe>+bass`` model against its ``<recipe>`` twin.

Twins share the architecture, the base recipe, the model transform, the threat model's norm
and the whole training config apart from BaSS (epochs, batch size, learning rate, seed,
recipe options, ...; from the checkpoints' sidecars, as the records keep them), so that the
delta isolates Balanced Spectrum Sampling (Lin et al., NeurIPS 2023). Models without such a
twin are listed as unpaired, never compared. Like is compared with like: a delta is shown
only where both records were evaluated with the same protocol fields its metric reads; a
pair evaluated otherwise keeps its row, with the difference in its Notes instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from freqbench.leaderboard.extract import BoundColumn, columns
from freqbench.leaderboard.table import Column, Table
from freqbench.metrics import MetricSpec
from freqbench.protocol import all_fields, format_eps
from freqbench.recipes import BASS_SUFFIX
from freqbench.records import Record

#: Training options that may differ between twins: BaSS itself, and what does not change the
#: trained weights (where the run ran, where its data lay, how many test images it logged).
_NOT_TRAINING = ("recipe", "bass_mode", "bass_p", "device", "data_dir", "eval_examples", "source")


def _twin_key(record: Record, recipe: str) -> tuple[object, ...] | None:
    """What twins share; None when the record does not say how the model was trained."""
    training = record.get("model", "training")
    if not isinstance(training, dict):
        return None
    config = {k: v for k, v in training.items() if k not in _NOT_TRAINING}
    return (
        record.get("model", "architecture"),
        recipe,
        repr(record.get("model", "transform")),
        record.data["protocol"]["norm"],
        repr(sorted(config.items())),
    )


def _recipe(record: Record) -> str:
    return record.get("model", "recipe") or ""


def bass_pairs(records: list[Record]) -> list[tuple[Record, Record]]:
    """(base, bass) pairs, in a stable order: by architecture, recipe, then names."""
    bases: dict[tuple[object, ...], list[Record]] = {}
    for record in records:
        key = _twin_key(record, _recipe(record))
        if _recipe(record) and not _recipe(record).endswith(BASS_SUFFIX) and key:
            bases.setdefault(key, []).append(record)
    pairs = []
    for record in records:
        if _recipe(record).endswith(BASS_SUFFIX):
            key = _twin_key(record, _recipe(record).removesuffix(BASS_SUFFIX))
            pairs += [(base, record) for base in bases.get(key, [])] if key else []
    return sorted(
        pairs,
        key=lambda p: (
            p[0].get("model", "architecture"),
            p[0].get("model", "recipe"),
            p[0].name,
            p[1].name,
        ),
    )


def _unpaired(records: list[Record], pairs: list[tuple[Record, Record]]) -> list[str]:
    """Models of a recipe that has BaSS models here, that are in no pair: 'name (recipe)'."""
    paired = {r.name for pair in pairs for r in pair}
    with_bass = {
        _recipe(r).removesuffix(BASS_SUFFIX) for r in records if _recipe(r).endswith(BASS_SUFFIX)
    }
    return [
        f"{r.name} ({_recipe(r)})"
        for r in sorted(records, key=lambda r: r.name)
        if r.name not in paired
        and _recipe(r).removesuffix(BASS_SUFFIX) in with_bass
        and not r.get("model", "transform")
    ]


def delta(bound: BoundColumn, base: Record, bass: Record) -> float | None:
    """bass - base, in percentage points for accuracies; None when either lacks the number."""
    a, b = bound.value(base), bound.value(bass)
    if a is None or b is None:
        return None
    return (b - a) * (100 if bound.percent else 1)


def protocol_differences(spec: MetricSpec, base: Record, bass: Record) -> list[str]:
    """The protocol fields ``spec`` reads on which the twins' records differ (``field a vs
    b``); fields that change no number (batch size, shards) aside."""
    fields = all_fields()
    found = []
    for name in spec.reads:
        if name not in fields or fields[name].standard == "any":
            continue
        a, b = base.data["protocol"].get(name), bass.data["protocol"].get(name)
        if a != b:
            show = format_eps if name == "eps" else str
            found.append(
                f"{name} {show(a) if a is not None else '–'} vs {show(b) if b is not None else '–'}"
            )
    return found


def bass_table(records: list[Record], specs: Sequence[MetricSpec]) -> Table:
    table = [
        Column("architecture", "Architecture", "text"),
        Column("recipe", "Recipe", "text", "the base recipe"),
        Column("bass_mode", "BaSS mode", "text"),
        Column("base", "Without BaSS", "text"),
        Column("with_bass", "With BaSS", "text"),
    ]
    deltas = [bound for bound in columns(specs) if bound.column.bass_delta]
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
        }
        notes: dict[str, str] = {}  # per metric: why its deltas are not shown
        for bound in deltas:
            differ = protocol_differences(bound.spec, base, bass)
            row[f"d_{bound.key}"] = None if differ else delta(bound, base, bass)
            if differ:
                notes.setdefault(bound.spec.name, f"no Δ {bound.title}: {', '.join(differ)}")
        row["notes"] = "; ".join(notes.values())
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[c.key for c in table])
    readings = ["accuracies in percentage points"]
    readings += [bound.column.bass_note for bound in deltas if bound.column.bass_note]
    notes = [
        "Δ = with BaSS minus without, for models that share architecture, base recipe, "
        "transform and training config apart from BaSS (the checkpoints' sidecars); "
        f"{', '.join(readings)}."
    ]
    unpaired = _unpaired(records, bass_pairs(records))
    if unpaired:
        notes.append(
            "Not paired (no twin trained with the same config apart from BaSS, or a training "
            "config the record does not state): " + ", ".join(unpaired) + "."
        )
    return Table(
        "bass", "What BaSS changes", table, frame, notes,
        empty="No recipe has both a plain and a +bass model here yet.",
    )  # fmt: skip
