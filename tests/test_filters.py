"""Filter statistics (Gavrikov and Keuper, CVPR 2022) against hand-computed cases and
independent numpy re-implementations."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from torch import nn

from freqbench.errors import UserError
from freqbench.filter_stats import (
    STAT_KEYS,
    centre_fraction,
    conv_layers,
    distribution_shift,
    filter_statistics,
    kernel_high_frequency_energy,
    layer_statistics,
    orthogonality,
    sparsity,
    variance_entropy,
)
from freqbench.plots.filters import plot_first_layer_filters

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WEIGHTS = Path(__file__).resolve().parents[1] / "model_zoo" / "fashion-mnist" / "weights"
REFERENCE_ROW = "smallcnn-natural"


def one_hot_kernels(k: int = 3) -> np.ndarray:
    """The k*k one-hot kernels as a (k*k, 1, k, k) layer."""
    return np.eye(k * k).reshape(k * k, 1, k, k)


def ref_entropy10(rows: np.ndarray) -> float:
    """Variance entropy straight from the covariance eigenvalues (not an SVD)."""
    centred = rows - rows.mean(axis=0)
    eig = np.clip(np.linalg.eigvalsh(centred.T @ centred), 0, None)
    v = eig / eig.sum()
    v = v[v > 1e-15]
    return float(-np.sum(v * np.log10(v)))


def ref_distribution_shift(a: np.ndarray, b: np.ndarray, bins: int = 70) -> float:
    """The CNN-Filter-DB notebook's steps in plain numpy, the two layers being the database.

    github paulgavrikov/CNN-Filter-DB, main.ipynb: ``scale`` (divide by max |w|, 1 for an
    all-zero kernel; every kernel kept), ``PCA(n_components=9).fit_transform`` (centred), one
    range ``(dX_n.min(), dX_n.max())`` for all components, ``get_discrete_probability_distribution``
    (70-bin densities, empty bins = float32 eps, normalised), ``kl_sym`` summed by ``nd_kl_sym``
    with the explained variance ratios as weights.

    Independent of freqbench on purpose: the PCA comes from the eigenvectors of the scatter
    matrix (no SVD), scikit-learn's sign rule (svd_flip, u-based: each component's largest
    |projection| is positive) is applied to the projections, and the KL is an explicit loop.
    """
    k2 = a.shape[-1] ** 2
    x = np.concatenate([a.reshape(-1, k2), b.reshape(-1, k2)])
    den = np.abs(x).max(axis=1)
    x = x / np.where(den == 0, 1, den)[:, None]
    centred = x - x.mean(axis=0)
    eigval, eigvec = np.linalg.eigh(centred.T @ centred)
    proj = centred @ eigvec
    for j in range(k2):
        if proj[np.argmax(np.abs(proj[:, j])), j] < 0:
            proj[:, j] = -proj[:, j]
    ratio = eigval / eigval.sum()
    edges = (proj.min(), proj.max())
    n_a = a.shape[0] * a.shape[1]
    total = 0.0
    for j in range(k2):
        dists = []
        for values in (proj[:n_a, j], proj[n_a:, j]):
            v = np.histogram(values, range=edges, bins=bins, density=True)[0]
            v[v == 0] = np.finfo(np.float32).eps
            dists.append(v / v.sum())
        p, q = dists
        kl_pq = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
        kl_qp = sum(qi * math.log(qi / pi) for pi, qi in zip(p, q, strict=True))
        total += ratio[j] * (kl_pq + kl_qp)
    return total


def conv_weights(path: Path) -> dict[str, np.ndarray]:
    """The k >= 3 conv weights of a committed model, by key, as float64."""
    return {
        key: w.astype(np.float64)
        for key, w in load_file(path).items()
        if key.endswith(".weight") and w.ndim == 4 and w.shape[-1] >= 3
    }


class SmallCNN(nn.Module):
    """Twelve 3x3 convs (one grouped, one 5x5) and a 1x1 conv that must be skipped."""

    def __init__(self, width: int = 4, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.pointwise = nn.Conv2d(8, 6, 1)
        convs = [nn.Conv2d(6, width, 3, padding=1)]
        convs += [nn.Conv2d(width, width, 3, padding=1) for _ in range(8)]
        convs.append(nn.Conv2d(width, width, 3, padding=1, groups=2))
        convs.append(nn.Conv2d(width, 5, 5, padding=2))
        self.body = nn.Sequential(*convs)
        self.head = nn.Linear(5, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(self.pointwise(self.stem(x)))
        return self.head(x.mean(dim=(2, 3)))


def assert_stats_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], float):
            assert a[key] == pytest.approx(b[key], nan_ok=True), key
        else:
            assert a[key] == b[key], key


# --- sparsity ---------------------------------------------------------------------------------


def test_sparsity_all_zero_layer_is_one():
    assert sparsity(np.zeros((4, 3, 3, 3))) == 1.0


def test_sparsity_one_huge_kernel_hand_count():
    rng = np.random.default_rng(0)
    w = rng.uniform(0.5, 1.0, size=(2, 3, 3, 3))  # 6 kernels, max |w| <= 1
    w[1, 2] *= 1000.0  # threshold becomes >= 5, so the other 5 kernels are sparse
    assert sparsity(w) == pytest.approx(5 / 6)
    assert sparsity(torch.from_numpy(w)) == pytest.approx(5 / 6)
    assert sparsity(w, threshold=1e-4) == 0.0


def test_sparsity_is_per_kernel_max_not_per_element():
    w = np.zeros((1, 2, 3, 3))
    w[0, 0, 1, 1] = 1.0
    w[0, 1] = 0.005
    w[0, 1, 0, 0] = 0.02  # one element above 0.01 keeps the whole kernel alive
    assert sparsity(w) == 0.0


# --- orthogonality ----------------------------------------------------------------------------


def test_orthogonality_orthonormal_rows_is_one():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(18, 4)))
    rows = q.T * np.array([[0.5], [2.0], [3.0], [7.0]])  # norms do not matter
    assert orthogonality(rows.reshape(4, 2, 3, 3)) == pytest.approx(1.0, abs=1e-12)


def test_orthogonality_identical_and_opposite_rows_is_zero():
    row = np.arange(9.0).reshape(1, 1, 3, 3)
    assert orthogonality(np.concatenate([row, row, row])) == pytest.approx(0.0, abs=1e-12)
    assert orthogonality(np.concatenate([row, -2 * row])) == pytest.approx(0.0, abs=1e-12)


def test_orthogonality_two_filters_by_hand():
    w = np.zeros((2, 1, 3, 3))
    w[0, 0, 0, 0] = 1.0
    w[1, 0, 0, 0] = w[1, 0, 0, 1] = 3.0  # cosine with the first row = 1 / sqrt(2)
    # c = (2 * 1/sqrt(2)) / (2 * 1)
    assert orthogonality(w) == pytest.approx(1 - 1 / math.sqrt(2))


def test_orthogonality_zero_row_keeps_its_diagonal_term_and_single_filter_is_nan():
    # e0, e1 and a zero row: |G - I| has 0 off the diagonal and 0, 0, |0 - 1| = 1 on it,
    # so c = 1 / (3 * 2), as torchconvquality computes it.
    w = one_hot_kernels()[:3].copy()
    w[2] = 0.0
    assert orthogonality(w) == pytest.approx(5 / 6)
    assert math.isnan(orthogonality(np.ones((1, 3, 3, 3))))


def test_orthogonality_zero_channel_by_hand():
    w = np.zeros((3, 2, 3, 3))
    w[0, 0, 0, 0] = 1.0
    w[1, 0, 0, 0] = w[1, 0, 0, 1] = 3.0  # cosine with the first row = 1 / sqrt(2)
    # Off the diagonal 2 / sqrt(2), on it 0 + 0 + 1 for the all-zero third channel.
    assert orthogonality(w) == pytest.approx(1 - (math.sqrt(2) + 1) / 6)
    # An all-zero layer: n ones on the diagonal, c = n / (n (n - 1)) = 1 / (n - 1).
    assert orthogonality(np.zeros((4, 3, 3, 3))) == pytest.approx(1 - 1 / 3)


# --- variance entropy -------------------------------------------------------------------------


def test_variance_entropy_identical_kernels_is_zero():
    w = np.tile(np.arange(9.0).reshape(1, 1, 3, 3), (5, 2, 1, 1))
    assert variance_entropy(w) == 0.0
    # Values that do not centre exactly leave ~1e-16 residues, which must not count.
    inexact = np.tile(np.random.default_rng(7).normal(size=(1, 1, 3, 3)), (7, 3, 1, 1))
    assert variance_entropy(inexact) == 0.0
    assert distribution_shift(inexact, inexact) == 0.0


def test_variance_entropy_all_directions_reaches_log10_9():
    signed = np.concatenate([one_hot_kernels(), -one_hot_kernels()])  # covariance = 2 I
    assert variance_entropy(signed) == pytest.approx(math.log10(9))
    # The 9 one-hot kernels alone lose the all-ones direction to the mean: 8 equal variances.
    assert variance_entropy(one_hot_kernels()) == pytest.approx(math.log10(8))


def test_variance_entropy_matches_direct_numpy_formula():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(6, 5, 3, 3)) * rng.uniform(0.1, 2, size=(1, 1, 3, 3))
    assert variance_entropy(w) == pytest.approx(ref_entropy10(w.reshape(-1, 9)), rel=1e-10)
    assert variance_entropy(w) < math.log10(9)


def test_variance_entropy_clean_removes_sparse_kernels():
    signed = np.concatenate([one_hot_kernels(), -one_hot_kernels()])
    tiny = np.zeros((2, 1, 3, 3))
    tiny[0, 0, 0, 0] = tiny[1, 0, 0, 1] = 1e-4  # below 1% of the layer's max: sparse
    w = np.concatenate([signed, tiny])
    assert sparsity(w) == pytest.approx(2 / 20)
    assert variance_entropy(w, clean=True) == pytest.approx(math.log10(9))
    assert variance_entropy(w) == pytest.approx(ref_entropy10(w.reshape(-1, 9)))

    # Kernels e0, e1 and two zero kernels. Clean: e0 and e1 differ along one direction -> 0.
    # All four: mean (e0 + e1) / 4, scatter [[3/4, -1/4], [-1/4, 3/4]] with eigenvalues 1 and
    # 1/2, so v = (2/3, 1/3).
    mixed = np.zeros((4, 1, 3, 3))
    mixed[0, 0, 0, 0] = mixed[1, 0, 0, 1] = 1.0
    expected = -(2 / 3 * math.log10(2 / 3) + 1 / 3 * math.log10(1 / 3))
    assert variance_entropy(mixed, clean=True) == pytest.approx(0.0, abs=1e-12)
    assert variance_entropy(mixed) == pytest.approx(expected)


def test_variance_entropy_fewer_than_two_kernels_is_nan():
    assert math.isnan(variance_entropy(np.ones((1, 1, 3, 3))))
    assert math.isnan(variance_entropy(np.zeros((3, 2, 3, 3)), clean=True))
    assert variance_entropy(np.zeros((3, 2, 3, 3))) == 0.0


# --- high-frequency energy and centre fraction -----------------------------------------------


def test_delta_kernel_centre_fraction_and_flat_spectrum():
    delta = np.zeros((2, 1, 3, 3))
    delta[:, 0, 1, 1] = [1.0, -4.0]
    assert centre_fraction(delta) == pytest.approx(1.0)
    assert kernel_high_frequency_energy(delta) == pytest.approx(8 / 9)


def test_constant_kernel_has_no_high_frequency_energy():
    assert kernel_high_frequency_energy(np.full((3, 2, 3, 3), 0.7)) == pytest.approx(0.0)
    assert centre_fraction(np.full((3, 2, 3, 3), 0.7)) == pytest.approx(1 / 9)


def test_high_frequency_energy_matches_explicit_dft_and_skips_zero_kernels():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(4, 3, 5, 5))
    spectra = np.abs(np.fft.fft2(w.reshape(-1, 5, 5))) ** 2
    expected = np.mean(1 - spectra[:, 0, 0] / spectra.sum(axis=(1, 2)))
    centre = np.mean(w[:, :, 2, 2] ** 2 / (w**2).sum(axis=(2, 3)))
    padded = np.concatenate([w, np.zeros((2, 3, 5, 5))])
    assert kernel_high_frequency_energy(padded) == pytest.approx(expected)
    assert centre_fraction(padded) == pytest.approx(centre)
    assert math.isnan(kernel_high_frequency_energy(np.zeros((2, 2, 3, 3))))
    assert math.isnan(centre_fraction(np.zeros((2, 2, 3, 3))))


# --- distribution shift -----------------------------------------------------------------------


def test_distribution_shift_against_itself_is_zero():
    w = np.random.default_rng(4).normal(size=(8, 4, 3, 3))
    assert distribution_shift(w, w) == pytest.approx(0.0, abs=1e-12)


def test_distribution_shift_different_sets_positive_and_symmetric():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(16, 8, 3, 3))
    centre_heavy = np.array([[0.1, 0.2, 0.1], [0.2, 1.0, 0.2], [0.1, 0.2, 0.1]])
    b = rng.normal(size=(16, 8, 3, 3)) * centre_heavy
    ab, ba = distribution_shift(a, b), distribution_shift(b, a)
    assert ab > 0.5
    assert ab == pytest.approx(ba, rel=1e-9)


def test_distribution_shift_matches_notebook_transcription():
    rng = np.random.default_rng(6)
    a = rng.normal(size=(6, 5, 3, 3))
    b = rng.laplace(size=(5, 4, 3, 3)) + 0.3
    a[0, 0] *= 1e-5  # a sparse kernel: kept, like every other kernel
    assert distribution_shift(a, b) == pytest.approx(ref_distribution_shift(a, b), rel=1e-12)
    assert distribution_shift(a, b, bins=10) == pytest.approx(
        ref_distribution_shift(a, b, bins=10), rel=1e-12
    )


def test_distribution_shift_structured_weights_match_transcription():
    rng = np.random.default_rng(8)
    centre_heavy = np.array([[0.1, 0.2, 0.1], [0.2, 1.0, 0.2], [0.1, 0.2, 0.1]])
    a = rng.normal(size=(8, 4, 3, 3))
    a[3] = 0.0  # an all-zero output channel
    a[1] = rng.normal(size=(3, 3))  # four identical kernels
    a[2, 1] *= 1e-4  # a sparse kernel
    a[5, 0] = a[6, 2] = a[0, 3]  # identical kernels in different channels
    b = rng.normal(size=(8, 4, 3, 3)) * centre_heavy
    b[7, :2] *= 1e-3  # sparse kernels on the other side
    b[4] = 2.5 * b[0]  # same shapes after scaling by the peak
    assert distribution_shift(a, b) == pytest.approx(ref_distribution_shift(a, b), rel=1e-12)
    assert distribution_shift(b, a) == pytest.approx(ref_distribution_shift(b, a), rel=1e-12)

    five = rng.normal(size=(4, 3, 5, 5))
    five[0] = 0.0
    other = rng.laplace(size=(4, 3, 5, 5))
    assert distribution_shift(five, other) == pytest.approx(
        ref_distribution_shift(five, other), rel=1e-12
    )

    # Fewer kernels than k * k: the components the SVD leaves out have zero variance.
    tiny_a, tiny_b = rng.normal(size=(1, 2, 3, 3)), rng.normal(size=(3, 1, 3, 3))
    assert distribution_shift(tiny_a, tiny_b) == pytest.approx(
        ref_distribution_shift(tiny_a, tiny_b), rel=1e-12
    )


def test_distribution_shift_keeps_sparse_and_zero_kernels():
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(6, 4, 3, 3)), rng.laplace(size=(6, 4, 3, 3))
    # Each kernel is divided by its own peak, so shrinking kernels to sparse ones changes
    # nothing: they stay in, with their shape (dropping them would change the value).
    shrunk = a.copy()
    shrunk[:3] *= 1e-6
    assert sparsity(shrunk) == pytest.approx(0.5)
    assert distribution_shift(shrunk, b) == pytest.approx(distribution_shift(a, b), rel=1e-12)
    # An all-zero layer is a set of zero kernels, not a missing one: a finite shift.
    zero = np.zeros((6, 4, 3, 3))
    assert distribution_shift(zero, b) == pytest.approx(ref_distribution_shift(zero, b), rel=1e-12)
    assert distribution_shift(zero, b) > 0
    assert distribution_shift(zero, zero) == 0.0


# The notebook's own code (github paulgavrikov/CNN-Filter-DB, main.ipynb: scale,
# PCA(n_components=9).fit_transform from scikit-learn 1.3.2, whose full-SVD svd_flip is
# 0.24.1's, get_discrete_probability_distribution, nd_kl_sym with bins=70) run on the float64
# first-layer weights of each committed model and of smallcnn-natural.
NOTEBOOK_FIRST_LAYER_SHIFT = {
    "smallcnn-augmix-bass": 22.503448582649096,
    "smallcnn-augmix": 22.298489374057628,
    "smallcnn-fgsm-rs-bass": 23.55378920148298,
    "smallcnn-fgsm-rs": 22.079648637062256,
    "smallcnn-mart-bass": 23.045686123335912,
    "smallcnn-mart": 25.147922758627164,
    "smallcnn-natural-1ep": 23.085560560145524,
    "smallcnn-natural-bass": 23.34648859880231,
    "smallcnn-pgd-at-bass": 23.727162049838594,
    "smallcnn-pgd-at": 21.445187844129496,
    "smallcnn-trades-bass": 23.330367143983324,
    "smallcnn-trades": 24.328436165930526,
}


def test_distribution_shift_committed_models_match_notebook():
    reference = conv_weights(WEIGHTS / f"{REFERENCE_ROW}.safetensors")
    models = sorted(p for p in WEIGHTS.glob("*.safetensors") if p.stem != REFERENCE_ROW)
    assert {p.stem for p in models} == set(NOTEBOOK_FIRST_LAYER_SHIFT)
    for path in models:
        weights = conv_weights(path)
        assert weights.keys() == reference.keys(), path.stem
        assert len(weights) >= 2, path.stem
        for key, w in weights.items():
            shift = distribution_shift(w, reference[key])
            expected = ref_distribution_shift(w, reference[key])
            assert shift == pytest.approx(expected, rel=1e-12), (path.stem, key)
        first = distribution_shift(
            weights["net.features.0.weight"], reference["net.features.0.weight"]
        )
        assert first == pytest.approx(NOTEBOOK_FIRST_LAYER_SHIFT[path.stem], rel=1e-12), path.stem


def test_distribution_shift_needs_same_kernel_size():
    with pytest.raises(UserError, match="same size"):
        distribution_shift(np.ones((2, 2, 3, 3)), np.ones((2, 2, 5, 5)))


# --- input checks, layers and model-level statistics ------------------------------------------


def test_bad_weights_raise_user_error():
    with pytest.raises(UserError, match="shape"):
        sparsity(np.ones((3, 3, 3)))
    with pytest.raises(UserError, match="shape"):
        orthogonality(np.ones((2, 2, 3, 1)))
    with pytest.raises(UserError, match="NaN"):
        variance_entropy(np.full((2, 2, 3, 3), np.nan))


def test_conv_layers_skips_pointwise_and_non_square():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, (3, 1)), nn.Conv2d(4, 2, 5)
    )
    layers = conv_layers(model)
    assert [name for name, _ in layers] == ["0", "3"]
    assert layers[1][1].shape == (2, 4, 5, 5)
    assert layers[1][1].dtype == np.float64


def test_filter_statistics_structure_first_layer_and_deciles():
    torch.manual_seed(0)
    model = SmallCNN()
    stats = filter_statistics(model)
    layers = conv_layers(model)
    assert len(layers) == 12
    assert "pointwise" not in [layer["name"] for layer in stats["layers"]]
    assert "distribution_shift" not in stats
    json.dumps(stats, allow_nan=False)  # plain Python numbers, no NaN for a normal model

    first = stats["first_layer"]
    assert first["name"] == "stem"
    assert_stats_equal(
        {k: v for k, v in first.items() if k != "name"}, layer_statistics(layers[0][1])
    )
    assert (first["out"], first["in"], first["k"], first["n_kernels"]) == (8, 3, 3, 24)

    # 12 convs: depth i / 11 puts convs 0 and 1 in decile 0 and convs 10 and 11 in decile 9.
    assert [layer["decile"] for layer in stats["layers"]] == [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9]
    assert stats["layers"][-1]["depth"] == 1.0
    deciles = {entry["decile"]: entry for entry in stats["deciles"]}
    assert sorted(deciles) == list(range(10))
    d0 = deciles[0]
    w0, w1 = layers[0][1], layers[1][1]
    n0, n1 = 8 * 3, 4 * 6
    assert (d0["n_layers"], d0["n_kernels"]) == (2, n0 + n1)
    for key in STAT_KEYS:
        fn = {
            "sparsity": sparsity,
            "variance_entropy": variance_entropy,
            "variance_entropy_clean": lambda w: variance_entropy(w, clean=True),
            "orthogonality": orthogonality,
            "kernel_high_frequency_energy": kernel_high_frequency_energy,
            "centre_fraction": centre_fraction,
        }[key]
        assert d0[key] == pytest.approx((n0 * fn(w0) + n1 * fn(w1)) / (n0 + n1)), key
    d9 = deciles[9]  # grouped conv (4, 2, 3, 3) and the 5x5 conv (5, 4, 5, 5)
    assert (d9["n_layers"], d9["n_kernels"]) == (2, 8 + 20)
    assert d9["orthogonality"] == pytest.approx(
        (8 * orthogonality(layers[10][1]) + 20 * orthogonality(layers[11][1])) / 28
    )


def test_filter_statistics_single_conv_and_empty_deciles():
    stats = filter_statistics(nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3)))
    assert [entry["decile"] for entry in stats["deciles"]] == [0, 9]
    single = filter_statistics(nn.Conv2d(3, 4, 3))
    assert single["layers"][0]["depth"] == 0.0
    assert single["deciles"][0]["n_layers"] == 1


def test_decile_means_skip_nan_layers():
    convs = [nn.Conv2d(3, 1, 3), nn.Conv2d(1, 4, 3)] + [nn.Conv2d(4, 4, 3) for _ in range(10)]
    stats = filter_statistics(nn.Sequential(*convs))
    first, second = stats["layers"][:2]
    assert math.isnan(first["orthogonality"])  # a single output channel
    decile0 = stats["deciles"][0]
    assert (decile0["decile"], decile0["n_layers"], decile0["n_kernels"]) == (0, 2, 3 + 4)
    assert decile0["orthogonality"] == pytest.approx(second["orthogonality"])
    assert decile0["sparsity"] == pytest.approx(
        (3 * first["sparsity"] + 4 * second["sparsity"]) / 7
    )


def test_filter_statistics_with_reference():
    torch.manual_seed(1)
    model = SmallCNN()
    same = filter_statistics(model, reference=copy.deepcopy(model))
    shift = same["distribution_shift"]
    assert shift["first_layer"] == pytest.approx(0.0, abs=1e-12)
    assert all(
        layer["distribution_shift"] == pytest.approx(0.0, abs=1e-12) for layer in shift["layers"]
    )
    assert [entry["decile"] for entry in shift["deciles"]] == list(range(10))

    other = SmallCNN()
    with torch.no_grad():
        other.stem.weight[:, :, [0, 0, 2, 2], [0, 2, 0, 2]] = 0.0  # corners off
    shifted = filter_statistics(model, reference=other)["distribution_shift"]
    expected = distribution_shift(conv_layers(model)[0][1], conv_layers(other)[0][1])
    assert shifted["first_layer"] == pytest.approx(expected)
    assert shifted["first_layer"] > 0
    json.dumps(shifted, allow_nan=False)


def test_filter_statistics_mismatched_reference():
    with pytest.raises(UserError, match="does not match"):
        filter_statistics(SmallCNN(width=4), reference=SmallCNN(width=6))
    renamed = nn.Sequential(nn.Conv2d(3, 4, 3))
    with pytest.raises(UserError, match="does not match"):
        filter_statistics(nn.Sequential(nn.Identity(), nn.Conv2d(3, 4, 3)), reference=renamed)
    with pytest.raises(UserError, match="does not match"):
        filter_statistics(SmallCNN(), reference=nn.Conv2d(3, 8, 3))


def test_model_without_spatial_convs_is_user_error():
    for model in (nn.Linear(4, 2), nn.Sequential(nn.Conv2d(3, 4, 1))):
        with pytest.raises(UserError, match="no convolution layers with kernels of size >= 3"):
            filter_statistics(model)


# --- plot -------------------------------------------------------------------------------------


@pytest.mark.parametrize("in_channels", [3, 1])
def test_plot_first_layer_filters_writes_png(tmp_path, in_channels):
    torch.manual_seed(2)
    target = tmp_path / "sub" / "filters.png"
    out = plot_first_layer_filters(SmallCNN(in_channels=in_channels), target, max_filters=5)
    assert out == target
    assert target.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in target.parent.iterdir()] == ["filters.png"]  # no temp file left


def test_plot_rejects_bad_input(tmp_path):
    with pytest.raises(UserError):
        plot_first_layer_filters(SmallCNN(), tmp_path / "f.png", max_filters=0)
    with pytest.raises(UserError, match="no convolution layers"):
        plot_first_layer_filters(nn.Linear(2, 2), tmp_path / "f.png")
    with pytest.raises(UserError, match="cannot write"):
        plot_first_layer_filters(SmallCNN(), tmp_path / "f.xyz")
    assert not list(tmp_path.iterdir())


def test_the_shift_is_defined_on_3x3_layers_only_and_the_record_says_so():
    """A 7x7 stem (ImageNet models) has statistics of its own but no shift: CNN-Filter-DB, the
    shift's database, holds 3x3 filters. The 3x3 layers keep their shift."""
    from freqbench.metrics.builtin.filters import SPEC

    def stem_model(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return nn.Sequential(nn.Conv2d(3, 8, 7), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.Conv2d(8, 4, 5))

    model, reference = stem_model(0), stem_model(1)
    stats = filter_statistics(model, reference)
    shift = stats["distribution_shift"]
    assert stats["first_layer"]["k"] == 7 and shift["first_layer"] is None
    assert shift["kernel_size"] == 3 and [layer["name"] for layer in shift["layers"]] == ["2"]
    w, ref_w = (
        model[2].weight.detach().double().numpy(),
        reference[2].weight.detach().double().numpy(),
    )
    assert shift["layers"][0]["distribution_shift"] == distribution_shift(w, ref_w)
    rows = dict(
        SPEC.presentation.headline({**stats, "distribution_shift": {**shift, "reference": "nat"}})
    )
    assert rows["filter shift from nat"].startswith("n/a: the first layer is 7x7")
