"""Grid of a model's first-layer kernels, the view Gavrikov and Keuper (CVPR 2022) use to show
that robust first layers look smoother and more centre-heavy than natural ones."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn

from freqbench import atomic
from freqbench.errors import UserError
from freqbench.filter_stats import conv_layers


def _min_max(x: np.ndarray) -> np.ndarray:
    """Scale one filter to [0, 1]; a constant filter becomes mid-grey."""
    lo, hi = x.min(), x.max()
    if hi == lo:
        return np.full_like(x, 0.5)
    return (x - lo) / (hi - lo)


def plot_first_layer_filters(
    model: nn.Module, path: str | os.PathLike, max_filters: int = 64
) -> Path:
    """Draw the first k >= 3 conv layer's filters (at most ``max_filters``) and return ``path``.

    The first layer is the first conv of :func:`freqbench.filter_stats.conv_layers`, so 1x1
    convs are skipped as in the statistics. See :func:`plot_filter_grid`.
    """
    layers = conv_layers(model)
    if not layers:
        raise UserError(
            f"model {type(model).__name__} has no convolution layers with kernels of size >= 3 "
            "to plot"
        )
    name, w = layers[0]
    return plot_filter_grid(w, name, path, max_filters)


def plot_filter_grid(
    w: np.ndarray, name: str, path: str | os.PathLike, max_filters: int = 64
) -> Path:
    """Draw the filters of one conv weight (out, in, k, k), at most ``max_filters``.

    With 3 input channels each filter is shown as an RGB image after per-filter min-max
    scaling; otherwise the mean over input channels is shown in grey (the kernel itself for
    one input channel), also min-max scaled per filter. The file is written atomically with
    the usual permissions; its format follows the suffix (PNG when there is none).
    """
    target = Path(path)
    fmt = target.suffix.lstrip(".").lower() or "png"
    if fmt not in FigureCanvasAgg.get_supported_filetypes():
        raise UserError(f"cannot write a figure as '.{fmt}' ({target}); use .png, .pdf or .svg")
    if max_filters < 1:
        raise UserError(f"max_filters must be >= 1, got {max_filters}")
    total = len(w)
    w = w[:max_filters]
    n = len(w)
    ncols = math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(ncols * 0.6 + 0.4, nrows * 0.6 + 0.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        if w.shape[1] == 3:
            ax.imshow(_min_max(w[i]).transpose(1, 2, 0), interpolation="nearest")
        else:
            img = _min_max(w[i].mean(axis=0))
            ax.imshow(img, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.suptitle(f"{name or 'conv'}: {n} of {total} filters", fontsize=8)
    with atomic.atomic_path(target) as tmp:
        fig.savefig(tmp, format=fmt, dpi=120)
    return target
