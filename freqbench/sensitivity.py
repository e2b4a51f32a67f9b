"""How a model's answers depend on frequency (DESIGN.md section 2): the computations behind
the ``frequency`` metric.

- Accuracy on low- and high-pass filtered images at fixed radii (Wang et al., CVPR 2020),
  reported on the raw, unclipped parts.
- Accuracy on the long-tail head and tail of each image, and the data's mean R80
  (Lin et al., NeurIPS 2023).
- Where the input gradient's power sits (Lin et al. section 3.2): share in the tail, spectral
  entropy of its radial profile, and the mean radius of its largest coefficients.
- The Fourier heat map (Yin et al., NeurIPS 2019): error rate under a Fourier-basis
  perturbation at every frequency, one forward per (basis, image batch).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from freqbench.data import LabeledImages
from freqbench.data.base import ImageStream
from freqbench.prediction import n_correct
from freqbench.progress import Progress
from freqbench.spectral import (
    energy_radius,
    fourier_basis_batch,
    half_plane_indices,
    mirror_indices,
    spectral_entropy,
    split_frequency,
    split_long_tail,
)

TOP_FRACTIONS = (0.01, 0.20, 0.50)


def radius_map(h: int, w: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """d(i, j): distance of each shifted-spectrum index from the centre (H//2, W//2)."""
    i = torch.arange(h, device=device, dtype=torch.float64)[:, None] - h // 2
    j = torch.arange(w, device=device, dtype=torch.float64)[None, :] - w // 2
    return torch.sqrt(i**2 + j**2)


def split_accuracy(
    model: nn.Module,
    data: LabeledImages | ImageStream,
    radii: list[int],
    batch_size: int,
    device,
    progress: bool = False,
) -> tuple[dict[str, int], dict[str, int]]:
    """How many low- and high-pass parts are classified correctly at each radius, keyed by
    the radius as text."""
    low_correct, high_correct = dict.fromkeys(radii, 0), dict.fromkeys(radii, 0)
    with Progress(len(data), f"low/high-pass split at {len(radii)} radii", "images", progress) as bar:  # fmt: skip
        for images, y in data.batches(batch_size):  # one pass: a streamed batch is decoded once
            x = images.to(device)
            for radius in radii:
                low, high = split_frequency(x, radius)
                low_correct[radius] += n_correct(model, low, y, len(y), device)
                high_correct[radius] += n_correct(model, high, y, len(y), device)
            bar.update(len(y))
    return {str(r): low_correct[r] for r in radii}, {str(r): high_correct[r] for r in radii}


def long_tail(
    model: nn.Module,
    data: LabeledImages | ImageStream,
    q: float,
    batch_size: int,
    device,
    progress: bool = False,
) -> dict:
    """Accuracy on the spectral head and tail of each image, and the data's mean R(100 q)."""
    head_correct = tail_correct = 0
    radii = []
    with Progress(len(data), "long-tail split", "images", progress) as bar:
        for images, y in data.batches(batch_size):
            x = images.to(device)
            head, tail = split_long_tail(x, q)
            head_correct += n_correct(model, head, y, len(y), device)
            tail_correct += n_correct(model, tail, y, len(y), device)
            radii.append(energy_radius(x, q).cpu())
            bar.update(len(y))
    return {
        "q": q,
        f"mean_r{round(q * 100)}": float(torch.cat(radii).double().mean()),
        "head_accuracy": head_correct / len(data),
        "tail_accuracy": tail_correct / len(data),
        "head_correct": head_correct,
        "tail_correct": tail_correct,
    }


def input_gradients(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: str | torch.device
) -> torch.Tensor:
    """d(cross-entropy)/d(input) per image, averaged over channels: (N, H, W).

    The loss is summed, not averaged, so each image's gradient does not depend on the batch.
    """
    x = images.detach().to(device).requires_grad_(True)  # a new leaf: the data stays untouched
    loss = F.cross_entropy(model(x), labels.to(device), reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad.mean(dim=1).detach()


def gradient_spectrum_summary(
    grads: torch.Tensor, tail_radius: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Per image: tail share of gradient power, spectral entropy, mean radius of top coefficients.

    G = |fftshift(fft2(g))|. Tail share = sum of |G|^2 over rings floor(d) > R80 of that image
    divided by the sum over rings >= 1 (the DC term is left out of both, as in R80).
    """
    n, h, w = grads.shape
    amplitude = torch.fft.fftshift(torch.fft.fft2(grads.double()), dim=(-2, -1)).abs()
    power = amplitude**2
    ring = radius_map(h, w, grads.device).floor()
    non_dc = (ring >= 1).to(power.dtype)
    in_tail = (ring[None] > tail_radius.to(grads.device)[:, None, None]).to(power.dtype)
    total = (power * non_dc).sum(dim=(-2, -1))
    tail_share = (power * in_tail).sum(dim=(-2, -1)) / total.clamp_min(1e-300)
    entropy = spectral_entropy(_ring_means(power, ring.long()))
    flat = amplitude.reshape(n, -1)
    d = radius_map(h, w, grads.device).reshape(-1)
    order = flat.argsort(dim=1, descending=True)
    top = {}
    for fraction in TOP_FRACTIONS:
        k = max(1, math.ceil(fraction * h * w))
        top[f"{round(fraction * 100)}"] = d[order[:, :k]].mean(dim=1)
    return {"tail_share": tail_share, "entropy": entropy, **{f"top_{k}": v for k, v in top.items()}}


def _ring_means(values: torch.Tensor, ring: torch.Tensor) -> torch.Tensor:
    """Mean of (N, H, W) ``values`` over each ring: the radial profile of a non-image signal."""
    flat_ring = ring.flatten()
    sums = values.new_zeros(len(values), int(flat_ring.max()) + 1)
    sums.index_add_(1, flat_ring, values.reshape(len(values), -1))
    return sums / torch.bincount(flat_ring).to(values.dtype)


def gradient_metrics(
    model: nn.Module,
    data: LabeledImages | ImageStream,
    q: float,
    batch_size: int,
    device,
    progress: bool = False,
) -> dict:
    """Where the input gradient's power sits, averaged over the images (Lin et al. 3.2)."""
    parts: dict[str, list[torch.Tensor]] = {}
    with Progress(len(data), "input-gradient spectrum", "images", progress) as bar:
        for x, y in data.batches(batch_size):
            summary = gradient_spectrum_summary(
                input_gradients(model, x, y, device), energy_radius(x.to(device), q)
            )
            for key, value in summary.items():
                parts.setdefault(key, []).append(value.cpu())
            bar.update(len(y))
    means = {key: float(torch.cat(v).mean()) for key, v in parts.items()}
    return {
        "tail_share": means["tail_share"],
        "entropy": means["entropy"],
        "mean_radius_top": {
            f"{round(f * 100)}": means[f"top_{round(f * 100)}"] for f in TOP_FRACTIONS
        },
    }


def band_means(heatmap: np.ndarray) -> dict[str, float | None]:
    """Mean error in the low (d < H/6), middle and high (d >= H/3) bands of the heat map; None
    for a band the map did not measure whole (a band-limited map is NaN outside its window),
    so that a band's number always averages the same cells."""
    h, w = heatmap.shape
    d = radius_map(h, w).numpy()
    low, high = d < h / 6, d >= h / 3
    middle = ~low & ~high
    return {
        name: None if np.isnan(heatmap[mask]).any() else float(heatmap[mask].mean())
        for name, mask in (("low", low), ("middle", middle), ("high", high))
    }


def heatmap_bases(h: int, w: int, band_limit: int = 0) -> torch.Tensor:
    """Positions in :func:`half_plane_indices` of the bases a heat map measures: every one, or
    with ``band_limit`` L > 0 those of the central (2L+1) x (2L+1) window, where the vertical
    and horizontal frequencies are at most L cycles per image."""
    indices = half_plane_indices(h, w)
    if band_limit <= 0:
        return torch.arange(len(indices))
    a, b = indices[:, 0] - h // 2, indices[:, 1] - w // 2
    return torch.nonzero((a.abs() <= band_limit) & (b.abs() <= band_limit)).flatten()


#: Bases whose signs are drawn at once: what :func:`heatmap_signs` holds beyond the kept rows.
SIGN_BLOCK = 1024


def heatmap_signs(
    seed: int, total: int, bases: torch.Tensor, shape: tuple[int, ...]
) -> torch.Tensor:
    """The 0/1 sign draws (int8) of the bases at increasing positions ``bases``: one
    ``shape`` draw per basis of the half-plane's ``total``, in order, from a generator seeded
    with ``seed``, as one draw of (total, *shape) would give them; drawn :data:`SIGN_BLOCK`
    bases at a time, keeping only the rows of ``bases``."""
    generator = torch.Generator().manual_seed(seed)
    keep = torch.zeros(total, dtype=torch.bool)
    keep[bases] = True
    rows = []
    for first in range(0, total, SIGN_BLOCK):
        size = min(SIGN_BLOCK, total - first)
        drawn = torch.randint(0, 2, (size, *shape), generator=generator, dtype=torch.int8)
        rows.append(drawn[keep[first : first + size]])
    return torch.cat(rows)


@torch.inference_mode()
def half_plane_errors(
    model: nn.Module,
    data: LabeledImages | ImageStream,
    *,
    eps: float,
    seed: int = 0,
    batch_size: int = 500,
    device: str | torch.device = "cpu",
    progress: bool = True,
    bases: torch.Tensor | None = None,
) -> np.ndarray:
    """Error rate under clip(x + eps * s * U_ij, 0, 1), s a random sign per image and channel,
    for each basis of one half-plane (:func:`half_plane_indices` order) at the increasing
    positions ``bases`` (all of them by default).

    Images are read one batch at a time (decoded once, whatever the number of bases). Each
    forward holds up to ``batch_size`` perturbed images: one basis over an image batch, or
    several bases over a batch smaller than that. The signs come from a generator seeded with
    ``seed`` for every basis of the half-plane in order (:func:`heatmap_signs`), so an error
    depends neither on the batch size nor on which bases are computed (a shard's range, a
    window).
    """
    n, (c, h, w) = len(data), data.image_shape
    indices = half_plane_indices(h, w)
    bases = torch.arange(len(indices)) if bases is None else bases
    signs = heatmap_signs(seed, len(indices), bases, (n, c, 1, 1))
    image_step = min(n, batch_size)
    per_forward = max(1, batch_size // image_step)  # bases per forward pass
    wrong = torch.zeros(len(bases), dtype=torch.long)
    bar = Progress(len(bases) * n, "Fourier heat map", "perturbed images", enabled=progress)
    start = 0
    for x, y in data.batches(image_step):
        x, y, m = x.to(device), y.to(device), len(y)
        for first in range(0, len(bases), per_forward):
            chunk = bases[first : first + per_forward]
            basis = fourier_basis_batch(h, w, indices[chunk], device=device)  # (b, H, W)
            rows = slice(first, first + len(chunk))
            s = signs[rows, start : start + m].to(device=device, dtype=x.dtype) * 2 - 1
            perturbed = (x[None] + eps * s * basis[:, None, None]).clamp_(0, 1)
            predicted = model(perturbed.flatten(0, 1)).argmax(1).view(len(chunk), -1)
            wrong[first : first + len(chunk)] += (predicted != y).sum(1).cpu()
            bar.update(len(chunk) * m)
        start += m
    bar.close()
    return (wrong.double() / n).numpy()


def heatmap_from_errors(
    h: int, w: int, errors: np.ndarray, bases: torch.Tensor | None = None
) -> np.ndarray:
    """The (H, W) map from the errors of the half-plane bases at positions ``bases`` (all),
    mirrored (U_ij equals its mirror's); cells not measured are NaN."""
    indices = half_plane_indices(h, w)
    indices = indices if bases is None else indices[bases]
    heatmap = torch.full((h, w), float("nan"), dtype=torch.float64)
    values = torch.as_tensor(errors, dtype=torch.float64)
    heatmap[indices[:, 0], indices[:, 1]] = values
    mirrored = mirror_indices(h, w, indices)
    heatmap[mirrored[:, 0], mirrored[:, 1]] = values
    return heatmap.numpy()


def fourier_heatmap(
    model: nn.Module,
    data: LabeledImages | ImageStream,
    *,
    eps: float,
    seed: int = 0,
    batch_size: int = 500,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> np.ndarray:
    """Error rate (H, W) under a Fourier-basis perturbation at every frequency (Yin et al.):
    one half-plane computed (:func:`half_plane_errors`), then mirrored."""
    h, w = data.image_shape[-2:]
    errors = half_plane_errors(
        model, data, eps=eps, seed=seed, batch_size=batch_size, device=device, progress=progress
    )
    return heatmap_from_errors(h, w, errors)
