"""The Fourier heat map of Yin et al. (NeurIPS 2019) as a figure.

The map is indexed like the shifted spectrum: entry (i, j) is the basis of vertical frequency
i - H//2 and horizontal frequency j - W//2 (cycles per image), so the axes read in cycles per
image with 0, the lowest frequency, at the centre. Two colour scales:

- ``absolute`` (the default): the error rate on a fixed 0-1 scale, comparable across models.
- ``relative``: the error rate minus the model's clean error, on a diverging colour map centred
  at 0 with limits symmetric about it, so that a robust model's map is not one flat colour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from freqbench import atomic
from freqbench.errors import UnknownNameError, UserError

SCALES = ("absolute", "relative")
MAX_TICKS = 9
#: The smallest half-range of the relative scale: a map equal to the clean error everywhere
#: still gets a readable colour bar.
MIN_RELATIVE_RANGE = 0.01
_STEPS = sorted({b * 10**e for b in (1, 2, 5) for e in range(5)} | {2**e for e in range(16)})


def frequencies(size: int) -> np.ndarray:
    """The frequency (cycles per image) of each index of a shifted spectrum axis of ``size``."""
    return np.arange(size) - size // 2


def frequency_ticks(size: int) -> list[int]:
    """Frequencies to label on an axis of ``size``: 0 and its multiples of the smallest round
    step (1, 2, 4, 5, 8, 10, 16, ...) that gives at most :data:`MAX_TICKS` labels."""
    axis = frequencies(size)
    for step in _STEPS:
        ticks = [int(k) for k in axis if k % step == 0]
        if len(ticks) <= MAX_TICKS:
            return ticks
    return [0]


def _subtitle(
    eps: float | None, n: int | None, scale: str, clean_error: float | None, band_limit: int | None
) -> str:
    parts = []
    if eps is not None:
        parts.append(f"L2 eps {eps:.3g}")
    if n is not None:
        parts.append(f"n = {n} images")
    if band_limit:
        side = 2 * band_limit + 1
        parts.append(f"band-limited: {side}x{side} lowest frequencies")
    if scale == "relative":
        parts.append(f"clean error {100 * clean_error:.1f}%")
    return ", ".join(parts)


def measured_window(heatmap: np.ndarray) -> np.ndarray:
    """The central window a band-limited map measured (NaN outside it); the whole map if it
    has no NaN. The window is centred, so its axes keep reading 0 at index size // 2."""
    measured = ~np.isnan(heatmap)
    if measured.all() or not measured.any():
        return heatmap
    rows, cols = np.flatnonzero(measured.any(1)), np.flatnonzero(measured.any(0))
    return heatmap[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def heatmap_figure(
    heatmap: np.ndarray,
    *,
    name: str = "",
    eps: float | None = None,
    n: int | None = None,
    band_limit: int | None = None,
    scale: str = "absolute",
    clean_error: float | None = None,
    title: str = "",
) -> Figure:
    """The heat map as a matplotlib Figure (not saved): frequency axes, a title with the
    model's ``name``, ``eps`` (L2) and ``n`` (images), and a colour bar.

    ``scale="relative"`` shows ``heatmap - clean_error``, which it then needs. A band-limited
    map (``band_limit`` L > 0) shows its measured window (:func:`measured_window`) and says so.
    """
    if scale not in SCALES:
        raise UnknownNameError("heat-map colour scale", scale, SCALES)
    heatmap = np.asarray(heatmap, dtype=float)
    if heatmap.ndim != 2:
        raise UserError(f"a Fourier heat map is a 2-D array, got shape {heatmap.shape}")
    heatmap = measured_window(heatmap)
    if scale == "relative":
        if clean_error is None:
            raise UserError("the relative heat-map scale needs the model's clean error")
        data = heatmap - clean_error
        reach = max(float(np.nanmax(np.abs(data))), MIN_RELATIVE_RANGE)
        norm, cmap, label = Normalize(-reach, reach), "RdBu_r", "error rate − clean error"
    else:
        data = heatmap
        norm, cmap, label = Normalize(0.0, 1.0), "viridis", "error rate"

    h, w = heatmap.shape
    fy, fx = frequencies(h), frequencies(w)
    extent = (fx[0] - 0.5, fx[-1] + 0.5, fy[0] - 0.5, fy[-1] + 0.5)
    fig = Figure(figsize=(4.4, 4.0), dpi=100)
    ax = fig.add_subplot()
    image = ax.imshow(
        data, cmap=cmap, norm=norm, origin="lower", extent=extent, interpolation="nearest"
    )
    ax.set_xticks(frequency_ticks(w))
    ax.set_yticks(frequency_ticks(h))
    ax.tick_params(labelsize=8)
    ax.set_xlabel("horizontal frequency (cycles per image)", fontsize=8)
    ax.set_ylabel("vertical frequency (cycles per image)", fontsize=8)
    heading = title or (f"{name}: Fourier heat map" if name else "Fourier heat map")
    subtitle = _subtitle(eps, n, scale, clean_error, band_limit)
    ax.set_title(f"{heading}\n{subtitle}" if subtitle else heading, fontsize=9)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=8)
    fig.tight_layout(pad=0.4)
    return fig


def plot_heatmap(
    heatmap: np.ndarray,
    path: str | Path,
    title: str = "",
    *,
    name: str = "",
    eps: float | None = None,
    n: int | None = None,
    band_limit: int | None = None,
    scale: str = "absolute",
    clean_error: float | None = None,
) -> Path:
    """Write :func:`heatmap_figure` as a PNG at ``path``, atomically; returns ``path``."""
    fig = heatmap_figure(
        heatmap, name=name, eps=eps, n=n, band_limit=band_limit, scale=scale,
        clean_error=clean_error, title=title,
    )  # fmt: skip
    path = Path(path)
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
