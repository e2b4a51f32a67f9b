"""Scatter plots of a zoo: robust accuracy against one measure, one point per model.

Each architecture family gets its own marker and models trained with extra data are filled,
the others hollow, so a trend that only one family or only extra data carries shows as such.
Written atomically, like every figure (``freqbench/plots/__init__.py`` selects Agg).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt

from freqbench.plots.spectrum import _save

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def plot_zoo_scatter(
    x: Sequence[float],
    y: Sequence[float],
    families: Sequence[str],
    extra_data: Sequence[bool],
    *,
    x_label: str,
    y_label: str,
    title: str,
    path: str | Path,
) -> Path:
    """One point per model at (x, y); marker by family, filled when trained with extra data."""
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    for i, family in enumerate(sorted(set(families))):
        marker = MARKERS[i % len(MARKERS)]
        for extra in (False, True):
            chosen = [j for j, f in enumerate(families) if f == family and extra_data[j] == extra]
            if not chosen:
                continue
            ax.scatter(
                [x[j] for j in chosen],
                [y[j] for j in chosen],
                marker=marker,
                s=36,
                facecolors=f"C{i % 10}" if extra else "none",
                edgecolors=f"C{i % 10}",
                label=f"{family}{' (extra data)' if extra else ''}",
            )
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _save(fig, path)
