"""Which frequency and filter metrics track robustness: Spearman rank correlations across models.

Rank correlation, because the metrics live on unrelated scales and the question is only
whether ordering models by one orders them by the other. Each pair uses the models that have
both numbers; fewer than 3 such models, or a constant metric, give NaN rather than a number
that means nothing.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from freqbench.leaderboard.extract import columns, ranking_columns
from freqbench.leaderboard.protocols import why_not_ranked
from freqbench.leaderboard.table import MISSING, Column, Table
from freqbench.metrics import MetricSpec
from freqbench.records import Record

MIN_MODELS = 3


def spearman(x: Sequence[float | None], y: Sequence[float | None]) -> tuple[float, int]:
    """(rho, n) over the pairs where both values are present; rho is NaN when n < 3 or constant."""
    a = np.array([np.nan if v is None else v for v in x], dtype=float)
    b = np.array([np.nan if v is None else v for v in y], dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    n = int(both.sum())
    if n < MIN_MODELS:
        return math.nan, n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        rho = stats.spearmanr(a[both], b[both]).statistic
    return float(rho), n


def correlation_table(records: list[Record], specs: Sequence[MetricSpec]) -> Table:
    """Each correlated column against each ranking column (AutoAttack, corruptions)."""
    bound = columns(specs)
    targets = ranking_columns(specs)
    table = [Column("metric", "Metric", "text")]
    for target in targets:
        table += [
            Column(
                f"rho_{target.key}",
                f"ρ vs {target.title}",
                "rho",
                f"Spearman correlation with {target.title.lower()} accuracy",
            ),
            Column(f"n_{target.key}", f"n ({target.title})", "int", "models with both numbers"),
        ]
    rows = []
    for metric in (b for b in bound if b.column.correlate):
        values = [metric.value(r) for r in records]
        if all(v is None for v in values):
            continue  # not measured for any model (e.g. filter shift without a reference)
        row: dict[str, object] = {"metric": metric.title}
        for target in targets:
            rho, n = spearman(values, [target.value(r) for r in records])
            row[f"rho_{target.key}"], row[f"n_{target.key}"] = rho, n
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[c.key for c in table])
    off = sum(1 for r in records if why_not_ranked(r, specs))
    said = [
        spec.presentation.correlation_note for spec in specs if spec.presentation.correlation_note
    ]
    notes = [
        f"Spearman rank correlation across the {len(records)} models of this table, over the "
        f"models that have both numbers (n); {MISSING} when fewer than {MIN_MODELS} models have them "
        "or a metric does not vary." + "".join(f" {note}" for note in said)
    ]
    if off:
        notes.append(
            f"{off} of these models {'is' if off == 1 else 'are'} not ranked (a non-standard "
            "protocol, or a degenerate model: see the table “Not ranked”)."
        )
    return Table("correlation", "Rank correlations with robustness", table, frame, notes)
