"""Statistics of convolution filters, after Gavrikov and Keuper (CVPR 2022).

"CNN Filter DB" and "Adversarial robustness through the lens of convolutional filters" show
that robust models differ from natural ones in the spatial k x k kernels themselves: fewer dead
(sparse) kernels, more diverse kernels (variance entropy), less redundant filters
(orthogonality) and a shifted kernel distribution. The definitions follow DESIGN.md section 3.

Choices where the papers are silent, shared by every function below:

- Only ``nn.Conv2d`` layers with square k x k kernels and k >= 3 count (1x1 convolutions have
  no spatial structure to describe). The references take 3x3 kernels only (CNN-Filter-DB holds
  3x3 filters; torchconvquality's ``measure_quality`` keeps ``kernel_size == (3, 3)``); the
  per-layer statistics of larger square kernels (a 7x7 stem) are measured the same way here,
  with k * k in place of 9. The distribution shift compares a layer with a database of
  filters, and CNN-Filter-DB's is of 3x3 filters: it is computed on 3x3 layers only
  (:data:`SHIFT_KERNEL`), and the record says so.
- Weights are converted to float64 numpy arrays; grouped and depthwise convolutions are taken
  as stored, shape (out, in / groups, k, k).
- A statistic that has no meaning for the given weights is NaN, never an exception: variance
  entropy with fewer than 2 kernels, orthogonality with fewer than 2 output channels,
  high-frequency energy and centre fraction when every kernel is all-zero. Aggregates over
  layers skip NaN values.

Reference code (DESIGN.md section 3 cites the same): the distribution shift follows the
CNN-Filter-DB notebook (github paulgavrikov/CNN-Filter-DB, ``main.ipynb``: ``scale``, the PCA
cells, ``get_discrete_probability_distribution``, ``kl_sym`` and ``nd_kl_sym``); sparsity,
variance entropy and orthogonality follow torchconvquality (github paulgavrikov/torchconvquality,
``torchconvquality/__init__.py``: ``sparsity``, ``variance_entropy``, ``orthogonality``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import nn

from freqbench.errors import UserError

#: Default sparsity cut-off: a kernel is sparse below 1% of the layer's max |w| (the reference's).
SPARSITY_THRESHOLD = 0.01

#: Histogram bins per PCA component in the distribution shift (CNN-Filter-DB: ``bins=70``).
SHIFT_BINS = 70

#: Density given to empty histogram bins before normalising: float32 eps, on the density scale
#: of ``np.histogram(..., density=True)``, as CNN-Filter-DB's
#: ``get_discrete_probability_distribution`` does (not a probability mass).
EMPTY_BIN_DENSITY = float(np.finfo(np.float32).eps)

#: Keys of :func:`layer_statistics` that are averaged over layers (weighted by filter count).
STAT_KEYS = (
    "sparsity",
    "variance_entropy",
    "variance_entropy_clean",
    "orthogonality",
    "kernel_high_frequency_energy",
    "centre_fraction",
)


def _as_weight(w: Any) -> np.ndarray:
    """A conv weight as float64 (out, in, k, k), or a UserError saying what is wrong."""
    if isinstance(w, torch.Tensor):
        w = w.detach().cpu().double().numpy()
    arr = np.asarray(w, dtype=np.float64)
    if arr.ndim != 4 or arr.shape[2] != arr.shape[3] or arr.size == 0:
        raise UserError(
            f"expected a non-empty conv weight of shape (out, in, k, k), got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise UserError("conv weight contains NaN or infinite values")
    return arr


def conv_layers(model: nn.Module) -> list[tuple[str, np.ndarray]]:
    """Every ``nn.Conv2d`` with square k x k kernels, k >= 3, in ``model.modules()`` order.

    1x1 and non-square convolutions are skipped, as in Gavrikov and Keuper's filter database.
    """
    layers = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Conv2d):
            continue
        kh, kw = module.kernel_size
        if kh == kw and kh >= 3:
            layers.append((name, _as_weight(module.weight)))
    return layers


def _kernels(w: np.ndarray) -> np.ndarray:
    """The layer's out * in kernels flattened to rows of k * k values."""
    return w.reshape(w.shape[0] * w.shape[1], -1)


def _significant(s: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Singular values of the centred ``rows`` that are not round-off from the centring.

    Identical kernels centre to ~1e-16 residues, whose normalised spectrum would otherwise
    be arbitrary; the cut-off is the usual rank tolerance relative to the uncentred data.
    """
    tol = np.finfo(np.float64).eps * max(rows.shape) * np.linalg.norm(rows)
    return s[s > tol]


def _sparse_mask(w: np.ndarray, threshold: float) -> np.ndarray:
    """True for kernels whose max |w| is below threshold x the layer's max |w|.

    An all-zero layer has every kernel sparse (the reference's convention).
    """
    peak = np.abs(_kernels(w)).max(axis=1)
    layer_peak = peak.max()
    if layer_peak == 0:
        return np.ones_like(peak, dtype=bool)
    return peak < threshold * layer_peak


def sparsity(w: Any, threshold: float = SPARSITY_THRESHOLD) -> float:
    """Share of kernels that are (near) zero: dead kernels waste capacity, per Gavrikov and Keuper.

    A kernel is sparse when its max |w| < ``threshold`` x the layer's max |w|; an all-zero
    layer has sparsity 1.0.
    """
    return float(_sparse_mask(_as_weight(w), threshold).mean())


def variance_entropy(w: Any, clean: bool = False) -> float:
    """Base-10 entropy of the kernels' PCA variance spectrum (Gavrikov and Keuper).

    Low values mean the kernels share few patterns; log10(k * k) (0.954 for 3x3) means the
    variance is spread evenly over all k * k directions. Identical kernels give 0. With
    ``clean=True`` sparse kernels are removed first. Fewer than 2 kernels give NaN: the
    statistic describes the spread of a set of kernels.
    """
    arr = _as_weight(w)
    rows = _kernels(arr)
    if clean:
        rows = rows[~_sparse_mask(arr, SPARSITY_THRESHOLD)]
    if len(rows) < 2:
        return float("nan")
    s = _significant(np.linalg.svd(rows - rows.mean(axis=0), compute_uv=False), rows)
    if len(s) == 0:
        return 0.0
    v = s**2 / np.sum(s**2)
    return float(0.0 - np.sum(v * np.log10(v)))  # 0.0 - keeps a lone v = 1 from giving -0.0


def orthogonality(w: Any) -> float:
    """1 - sum |G - I| / (n (n - 1)) over the output filters, as torchconvquality computes it.

    torchconvquality (github paulgavrikov/torchconvquality, ``torchconvquality/__init__.py``,
    ``orthogonality``): each output channel is one row of in * k * k values divided by its L2
    norm (an all-zero row is divided by 1 and stays zero), G = rows x rows^T and the whole of
    |G - I| is summed, diagonal included. A unit row adds |1 - 1| = 0 there, but an all-zero
    row adds |0 - 1| = 1: a dead output channel lowers orthogonality by 1 / (n (n - 1)), as in
    the reference. One output channel gives NaN (the reference divides by n (n - 1) = 0).
    """
    arr = _as_weight(w)
    rows = arr.reshape(arr.shape[0], -1)
    n = len(rows)
    if n < 2:
        return float("nan")
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit = rows / np.where(norms == 0, 1.0, norms)
    c = np.abs(unit @ unit.T - np.eye(n)).sum() / (n * (n - 1))
    return float(1.0 - c)


def _nonzero_kernels(w: Any) -> np.ndarray:
    """Kernels as (n, k, k) with all-zero kernels dropped: they have no energy to divide."""
    arr = _as_weight(w)
    k = arr.shape[-1]
    kernels = arr.reshape(-1, k, k)
    return kernels[np.any(kernels != 0, axis=(1, 2))]


def kernel_high_frequency_energy(w: Any) -> float:
    """Mean share of each kernel's DFT energy outside the DC term; smooth kernels score low.

    By Parseval the total |DFT|^2 is k * k * sum w^2 and the DC term is (sum w)^2, so the share
    is 1 - (sum w)^2 / (k * k * sum w^2). A delta kernel gives (k*k - 1) / (k*k), a constant one
    0. All-zero kernels are skipped; NaN when every kernel is zero.
    """
    kernels = _nonzero_kernels(w)
    if len(kernels) == 0:
        return float("nan")
    k = kernels.shape[-1]
    dc = kernels.sum(axis=(1, 2)) ** 2
    total = k * k * (kernels**2).sum(axis=(1, 2))
    return float(np.mean(1.0 - dc / total))


def centre_fraction(w: Any) -> float:
    """Mean share of each kernel's energy in its centre tap.

    Robust first layers that act like 1x1 convolutions score near 1 (Gavrikov and Keuper).
    All-zero kernels are skipped; NaN when every kernel is zero.
    """
    kernels = _nonzero_kernels(w)
    if len(kernels) == 0:
        return float("nan")
    c = kernels.shape[-1] // 2
    return float(np.mean(kernels[:, c, c] ** 2 / (kernels**2).sum(axis=(1, 2))))


def _peak_scaled(w: np.ndarray) -> np.ndarray:
    """Every kernel of one layer (sparse ones too) divided by its own max |w|.

    CNN-Filter-DB ``scale``: an all-zero kernel is divided by 1 and stays zero.
    """
    rows = _kernels(w)
    peak = np.abs(rows).max(axis=1, keepdims=True)
    return rows / np.where(peak == 0, 1.0, peak)


def _bin_probabilities(x: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    """CNN-Filter-DB ``get_discrete_probability_distribution``: densities, floor, normalise.

    The floor goes on the density scale (``density=True``) before normalising, so the mass
    an empty bin gets depends on the bin width and the number of kernels, as in the notebook.
    """
    density, _ = np.histogram(x, bins=bins, range=(lo, hi), density=True)
    density[density == 0] = EMPTY_BIN_DENSITY
    return density / density.sum()


def distribution_shift(w_a: Any, w_b: Any, bins: int = SHIFT_BINS) -> float:
    """Weighted symmetric KL divergence between two layers' kernel distributions.

    Computed as the CNN-Filter-DB notebook does (github paulgavrikov/CNN-Filter-DB,
    ``main.ipynb``), with the two layers' kernels as the whole "database":

    1. every kernel, sparse ones included, divided by its own max |w| (``scale``);
    2. PCA with k * k components fitted on both sets together (``PCA(n_components=9)``, which
       centres; scikit-learn 0.24.1, pinned there, takes the full SVD and ``svd_flip``s each
       component so that the kernel with the largest |projection| projects positively);
    3. one histogram range for all components: the min and max of every projection of both
       sets (``dX_n_range = (dX_n.min(), dX_n.max())``);
    4. per component and set, a ``bins``-bin (70) ``np.histogram(density=True)`` with empty
       bins set to float32 eps on the density scale, then normalised;
    5. per component ``scipy.stats.entropy(p, q) + scipy.stats.entropy(q, p)`` (natural log,
       ``kl_sym``), summed with the explained variance ratios as weights (``nd_kl_sym``).

    With fewer than k * k kernels in all, the components the SVD does not return have zero
    variance and would add nothing. When every scaled kernel of both sets is the same (up to
    round-off) the two distributions are identical and the shift is 0. The result depends on
    the kernel counts through the empty-bin floor, as the reference's does.
    """
    a, b = _as_weight(w_a), _as_weight(w_b)
    if a.shape[-1] != b.shape[-1]:
        raise UserError(
            f"distribution shift needs kernels of the same size, got {a.shape[-1]}x{a.shape[-1]}"
            f" and {b.shape[-1]}x{b.shape[-1]}"
        )
    if bins < 1:
        raise UserError(f"bins must be >= 1, got {bins}")
    rows_a, rows_b = _peak_scaled(a), _peak_scaled(b)
    stacked = np.vstack([rows_a, rows_b])
    mean = stacked.mean(axis=0)
    u, s, vt = np.linalg.svd(stacked - mean, full_matrices=False)
    if len(_significant(s, stacked)) == 0:
        return 0.0
    # scikit-learn's svd_flip(u_based_decision=True): each column of u gets a positive entry
    # where its |u| is largest, the matching row of vt the same sign.
    signs = np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])])
    components = vt * signs[:, None]
    ratio = s**2 / np.sum(s**2)
    # PCA.transform, set by set: a layer against itself gets the same projections twice (0).
    proj_a, proj_b = (rows_a - mean) @ components.T, (rows_b - mean) @ components.T
    lo, hi = min(proj_a.min(), proj_b.min()), max(proj_a.max(), proj_b.max())
    p = np.array([_bin_probabilities(proj_a[:, i], bins, lo, hi) for i in range(len(s))])
    q = np.array([_bin_probabilities(proj_b[:, i], bins, lo, hi) for i in range(len(s))])
    kl_sym = stats.entropy(p, q, axis=1) + stats.entropy(q, p, axis=1)
    return float(np.sum(ratio * kl_sym))


def layer_statistics(w: Any) -> dict[str, Any]:
    """All single-layer statistics of one conv weight, plus its shape."""
    arr = _as_weight(w)
    out, inp, k, _ = arr.shape
    return {
        "out": int(out),
        "in": int(inp),
        "k": int(k),
        "n_kernels": int(out * inp),
        "sparsity": sparsity(arr),
        "variance_entropy": variance_entropy(arr),
        "variance_entropy_clean": variance_entropy(arr, clean=True),
        "orthogonality": orthogonality(arr),
        "kernel_high_frequency_energy": kernel_high_frequency_energy(arr),
        "centre_fraction": centre_fraction(arr),
    }


def _weighted_mean(values: Sequence[float], weights: Sequence[int]) -> float:
    """Mean weighted by filter count over the finite values; NaN when none is finite."""
    vals, wts = np.asarray(values, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    ok = np.isfinite(vals)
    if not ok.any():
        return float("nan")
    return float(np.sum(vals[ok] * wts[ok]) / np.sum(wts[ok]))


def _decile_summaries(layers: list[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Per depth decile, the filter-count-weighted means of ``keys``; empty deciles are omitted."""
    summaries = []
    for decile in range(10):
        members = [layer for layer in layers if layer["decile"] == decile]
        if not members:
            continue
        weights = [layer["n_kernels"] for layer in members]
        entry: dict[str, Any] = {
            "decile": decile,
            "n_layers": len(members),
            "n_kernels": int(sum(weights)),
        }
        for key in keys:
            entry[key] = _weighted_mean([layer[key] for layer in members], weights)
        summaries.append(entry)
    return summaries


def _check_reference(
    layers: list[tuple[str, np.ndarray]], ref_layers: list[tuple[str, np.ndarray]]
) -> None:
    """UserError unless the reference has the same k >= 3 convs, by name and shape, in order."""
    if len(layers) != len(ref_layers):
        raise UserError(
            f"reference model does not match: it has {len(ref_layers)} convolution layers with "
            f"kernels of size >= 3, the model has {len(layers)}"
        )
    for (name, w), (ref_name, ref_w) in zip(layers, ref_layers, strict=True):
        if name != ref_name or w.shape != ref_w.shape:
            raise UserError(
                f"reference model does not match: layer '{name}' {tuple(w.shape)} in the model, "
                f"'{ref_name}' {tuple(ref_w.shape)} in the reference"
            )


#: The kernel size the distribution shift is defined on (CNN-Filter-DB's 3x3 filters).
SHIFT_KERNEL = 3


def filter_statistics(model: nn.Module, reference: nn.Module | None = None) -> dict[str, Any]:
    """Filter statistics of a model: first layer, per depth decile and per layer.

    Depth of conv i (0-based among the k >= 3 convs) is i / (n_convs - 1), 0 for a single conv;
    decile = min(int(depth * 10), 9). Decile entries average the layers in that decile weighted
    by filter count (out * in), skipping NaN values, and deciles with no layer are omitted
    (each entry carries its ``decile``). With ``reference`` (the same architecture, e.g. the
    natural model) a ``distribution_shift`` block compares every layer with its counterpart,
    as Gavrikov and Keuper compare robust with natural filters: every 3x3 layer
    (:data:`SHIFT_KERNEL`); its ``first_layer`` is None when the first layer is not 3x3.
    """
    layers = conv_layers(model)
    if not layers:
        raise UserError(
            f"model {type(model).__name__} has no convolution layers with kernels of size >= 3 "
            "(nn.Conv2d with square kernels); filter statistics need at least one"
        )
    n = len(layers)
    per_layer = []
    for i, (name, w) in enumerate(layers):
        depth = i / (n - 1) if n > 1 else 0.0
        decile = min(int(depth * 10), 9)
        per_layer.append({"name": name, "depth": depth, "decile": decile, **layer_statistics(w)})
    result: dict[str, Any] = {
        "first_layer": {k: v for k, v in per_layer[0].items() if k not in ("depth", "decile")},
        "deciles": _decile_summaries(per_layer, STAT_KEYS),
        "layers": per_layer,
    }
    if reference is not None:
        ref_layers = conv_layers(reference)
        _check_reference(layers, ref_layers)
        shifts = [
            {
                "name": stats["name"],
                "depth": stats["depth"],
                "decile": stats["decile"],
                "n_kernels": stats["n_kernels"],
                "distribution_shift": distribution_shift(w, ref_w),
            }
            for stats, (_, w), (_, ref_w) in zip(per_layer, layers, ref_layers, strict=True)
            if w.shape[-1] == SHIFT_KERNEL
        ]
        first_is_3x3 = layers[0][1].shape[-1] == SHIFT_KERNEL
        result["distribution_shift"] = {
            "kernel_size": SHIFT_KERNEL,
            "first_layer": shifts[0]["distribution_shift"] if first_is_3x3 else None,
            "deciles": _decile_summaries(shifts, ("distribution_shift",)),
            "layers": shifts,
        }
    return result
