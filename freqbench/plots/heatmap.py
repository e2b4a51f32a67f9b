"""The Fourier heat map of Yin et al. (NeurIPS 2019) as an image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from freqbench import atomic


def plot_heatmap(heatmap: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Error rate per Fourier basis; the centre is the lowest frequency (shifted spectrum)."""
    fig = Figure(figsize=(3.6, 3.2), dpi=100)
    ax = fig.add_subplot()
    image = ax.imshow(heatmap, cmap="jet", vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "Fourier heat map (error rate)", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    path = Path(path)
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
