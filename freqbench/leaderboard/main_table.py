"""The main table: one row per model, ranked as RobustBench ranks (robust accuracy, then clean).

Rows whose protocol differs from the dataset's standard one, or whose AutoAttack run was
flagged unreliable, stay in the ranking but say so in the Notes column and the legend: they
are shown, never silently compared.
"""

from __future__ import annotations

import pandas as pd

from freqbench.leaderboard.extract import METRICS, headline_radii, unreliable
from freqbench.leaderboard.protocols import deviations, format_eps, standard_protocol
from freqbench.leaderboard.table import Column, Table
from freqbench.records import Record

#: threat model -> the metric that ranks it.
RANK_BY = {"Linf": "autoattack", "L2": "autoattack", "corruptions": "corruptions"}
_RANKED_BY = {"autoattack": "AutoAttack robust accuracy", "corruptions": "mean corruption accuracy"}

_NUMBERS = ("clean", "autoattack", "corruptions", "lfc", "hfc")
_FILTERS = ("sparsity", "variance_entropy", "orthogonality", "centre_fraction")
MISSING_RADIUS = "n/a"


def _columns(threat_model: str, radius: str) -> list[Column]:
    def metric(key: str, title: str | None = None) -> Column:
        m = METRICS[key]
        return Column(key, title or m.title, "percent" if m.percent else "number", m.description)

    columns = [
        Column("rank", "Rank", "int"),
        Column("model", "Model", "text"),
        Column("architecture", "Architecture", "text"),
        Column("recipe", "Recipe", "text", "training recipe"),
        Column("bass", "BaSS", "text", "Balanced Spectrum Sampling mode (augment or dataset)"),
    ]
    if threat_model == "corruptions":
        columns.append(
            Column("threat", "Threat model", "text", "norm and eps of the AutoAttack column")
        )
    columns += [metric(k) for k in ("clean", "autoattack", "corruptions")]
    columns += [metric("lfc", f"LFC (r={radius})"), metric("hfc", f"HFC (r={radius})")]
    columns += [metric("tail_share")] + [metric(k) for k in _FILTERS]
    columns += [
        Column("extra_data", "Extra data", "text", "trained with data beyond the training set"),
        Column("venue", "Venue", "text"),
        Column("notes", "Notes", "text", "unreliable evaluations and non-standard protocols"),
    ]
    return columns


def _row(record: Record) -> dict[str, object]:
    notes = ["unreliable"] if unreliable(record) else []
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
    for key in (*_NUMBERS, "tail_share", *_FILTERS):
        value = METRICS[key].value(record)
        row[key] = value * 100 if value is not None and METRICS[key].percent else value
    return row


def _legend(records: list[Record], threat_model: str, dataset: str) -> list[str]:
    radii = headline_radii(records)
    notes = [
        f"Ranked by {_RANKED_BY[RANK_BY[threat_model]]}, ties by clean accuracy, as RobustBench "
        "ranks. Accuracies in %.",
        f"LFC / HFC: accuracy on low- / high-pass filtered test images at radius r = {', '.join(radii) or MISSING_RADIUS}"
        " (Wang et al., CVPR 2020; the filtered images are not clipped).",
        "Grad. tail share: " + METRICS["tail_share"].description + ". Sparsity, Var. entropy, "
        "Orthogonality and Centre fraction describe the first convolution layer (Gavrikov and Keuper, CVPR 2022).",
    ]
    standard = standard_protocol(dataset)
    off = sum(1 for r in records if deviations(r))
    if standard is not None:
        notes.append(f"Standard protocol for {dataset}: {standard.describe()}.")
    if off:
        notes.append(
            f"{off} of {len(records)} models {'was' if off == 1 else 'were'} evaluated with a "
            f"protocol that differs from the standard one (see Notes): {'its' if off == 1 else 'their'} "
            "numbers are not directly comparable with the others."
        )
    if any(unreliable(r) for r in records):
        notes.append(
            "unreliable: AutoAttack's own checks flagged the evaluation (e.g. signs of gradient "
            "masking); see the warnings in the record."
        )
    return notes


def main_table(records: list[Record], threat_model: str, dataset: str) -> Table:
    """Rank ``records`` (already selected for ``threat_model``) and describe them row by row."""
    radii = headline_radii(records)
    radius = radii[0] if len(radii) == 1 else "varies"
    columns = _columns(threat_model, radius)
    frame = pd.DataFrame([_row(r) for r in records])
    rank_key = RANK_BY[threat_model]
    frame = frame.sort_values(
        [rank_key, "clean", "model"],
        ascending=[False, False, True],
        na_position="last",
        kind="stable",
    ).reset_index(drop=True)
    frame.insert(0, "rank", range(1, len(frame) + 1))
    frame = frame[[c.key for c in columns]]
    title = {"corruptions": "Common corruptions"}.get(threat_model, f"{threat_model} robustness")
    return Table("main", title, columns, frame, _legend(records, threat_model, dataset))
