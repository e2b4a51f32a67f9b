"""Grid of a model's first-layer kernels, the view Gavrikov and Keuper (CVPR 2022) use to show
that robust first layers look smoother and more centre-heavy than natural ones."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn

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

    With 3 input channels each filter is shown as an RGB image after per-filter min-max
    scaling; otherwise the mean over input channels is shown in grey (the kernel itself for
    one input channel), also min-max scaled per filter. The first layer is the first conv of
    :func:`freqbench.filter_stats.conv_layers`, so 1x1 convs are skipped as in the
    statistics. The file is written atomically (temporary file in the same folder, then
    ``os.replace``); its format follows the suffix (PNG when there is none).
    """
    target = Path(path)
    fmt = target.suffix.lstrip(".").lower() or "png"
    if fmt not in FigureCanvasAgg.get_supported_filetypes():
        raise UserError(f"cannot write a figure as '.{fmt}' ({target}); use .png, .pdf or .svg")
    if max_filters < 1:
        raise UserError(f"max_filters must be >= 1, got {max_filters}")
    layers = conv_layers(model)
    if not layers:
        raise UserError(
            f"model {type(model).__name__} has no convolution layers with kernels of size >= 3 "
            "to plot"
        )
    name, w = layers[0]
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
    fig.suptitle(f"{name or 'conv'}: {n} of {len(layers[0][1])} filters", fontsize=8)

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=120)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
