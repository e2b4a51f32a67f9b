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

from freqbench.leaderboard.extract import METRICS
from freqbench.leaderboard.protocols import deviations
from freqbench.leaderboard.table import MISSING, Column, Table
from freqbench.records import Record

MIN_MODELS = 3
TARGETS = ("autoattack", "corruptions")


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


def correlation_table(records: list[Record]) -> Table:
    columns = [Column("metric", "Metric", "text")]
    for target in TARGETS:
        title = METRICS[target].title
        columns += [
            Column(
                f"rho_{target}",
                f"ρ vs {title}",
                "rho",
                f"Spearman correlation with {title.lower()} accuracy",
            ),
            Column(f"n_{target}", f"n ({title})", "int", "models with both numbers"),
        ]
    rows = []
    for metric in (m for m in METRICS.values() if m.correlate):
        values = [metric.value(r) for r in records]
        if all(v is None for v in values):
            continue  # not measured for any model (e.g. filter shift without a reference)
        row: dict[str, object] = {"metric": metric.title}
        for target in TARGETS:
            rho, n = spearman(values, [METRICS[target].value(r) for r in records])
            row[f"rho_{target}"], row[f"n_{target}"] = rho, n
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[c.key for c in columns])
    off = sum(1 for r in records if deviations(r))
    notes = [
        f"Spearman rank correlation across the {len(records)} models of this table, over the "
        f"models that have both numbers (n); {MISSING} when fewer than {MIN_MODELS} models have them "
        "or a metric does not vary. The filter metrics describe the first convolution layer."
    ]
    if off:
        notes.append(
            f"{off} of these models {'was' if off == 1 else 'were'} evaluated with a "
            "non-standard protocol (see the main table)."
        )
    return Table("correlation", "Rank correlations with robustness", columns, frame, notes)
