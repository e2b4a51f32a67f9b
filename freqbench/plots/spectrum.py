"""Figures of image spectra: the dataset's radial power law, frequency splits and BaSS.

Natural images have a radial power spectrum close to a power law, power ~ r^-slope with a
slope near 2 (van der Schaaf and van Hateren, 1996); the long-tail view of Lin et al.
(NeurIPS 2023) reads robustness off that shape and off R80. Every figure is written
atomically (temp file beside the target, then rename), so a crash never leaves half a file.
Importing this module runs ``freqbench/plots/__init__.py`` first, which selects Agg.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from freqbench.atomic import atomic_path
from freqbench.errors import UserError
from freqbench.spectral import bass, energy_radius, radial_profile, split_frequency

__all__ = ["fit_power_law", "plot_bass", "plot_frequency_splits", "plot_radial_spectrum"]

_CHUNK = 1024  # images per FFT batch, to bound memory on large datasets


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    finally:
        plt.close(fig)
    return path


def _single_image(image: torch.Tensor) -> torch.Tensor:
    """Accept CHW or 1CHW and return 1CHW (the spectral functions validate the rest)."""
    if isinstance(image, torch.Tensor) and image.dim() == 3:
        return image.unsqueeze(0)
    if isinstance(image, torch.Tensor) and image.dim() == 4 and image.shape[0] == 1:
        return image
    shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
    raise UserError(f"expected one image as a CHW or 1CHW tensor, got {shape}")


def _display(image: torch.Tensor) -> np.ndarray:
    """1CHW -> HW or HWC numpy for imshow."""
    array = image[0].detach().cpu().float().numpy()
    return array[0] if array.shape[0] == 1 else np.moveaxis(array, 0, -1)


def _rescaled(image: torch.Tensor) -> torch.Tensor:
    """Min-max rescale to [0, 1] so that faint high-frequency parts are visible."""
    low, high = image.min(), image.max()
    return (image - low) / (high - low) if high > low else torch.zeros_like(image)


def fit_power_law(
    profile_1d: np.ndarray | torch.Tensor, max_ring: int | None = None
) -> tuple[float, float]:
    """Least-squares line of ln(power) against ln(radius) over rings 1..max_ring.

    ``profile_1d`` holds the mean power of rings 0..K-1 (ring 0 = DC, left out because
    ln 0 is undefined for the radius). ``max_ring`` defaults to K - 1; pass min(H, W) // 2 to
    fit only the rings that fit inside the image (the corner rings are partial).
    Returns (slope, intercept) with power ~ exp(intercept) * r^-slope, so a decaying spectrum
    has a positive slope; the intercept is ln(power) at r = 1.
    """
    power = np.asarray(
        profile_1d.detach().cpu() if isinstance(profile_1d, torch.Tensor) else profile_1d,
        dtype=np.float64,
    )
    if power.ndim != 1:
        raise UserError(f"profile_1d must be one radial profile (K,), got shape {power.shape}")
    last = power.size - 1 if max_ring is None else max_ring
    if not 2 <= last <= power.size - 1:
        raise UserError(
            f"max_ring must be in 2..{power.size - 1} (rings of the profile), got {last}"
        )
    rings = np.arange(1, last + 1)
    if not np.all(np.isfinite(power[rings])) or np.any(power[rings] <= 0):
        raise UserError("power must be finite and > 0 on rings 1..max_ring to fit in log-log")
    slope, intercept = np.polyfit(np.log(rings), np.log(power[rings]), 1)
    return float(-slope), float(intercept)


def plot_radial_spectrum(images: torch.Tensor, path: str | Path) -> dict[str, float]:
    """The dataset's mean radial power spectrum on log-log axes, with fit and mean R80.

    The mean is over images and channels; the power law is fitted on rings 1..min(H, W)//2;
    R80 is :func:`freqbench.spectral.energy_radius` with q = 0.8, averaged over images.
    Returns ``{"slope": ..., "mean_r80": ...}``.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[0] == 0:
        raise UserError("images must be a non-empty NCHW tensor of values in [0, 1]")
    h, w = images.shape[-2:]
    profiles, radii = [], []
    for chunk in images.split(_CHUNK):
        profiles.append(radial_profile(chunk, "power").double().sum(dim=(0, 1)))
        radii.append(energy_radius(chunk, 0.8).double())
    total = torch.stack(profiles).sum(0).cpu().numpy()
    mean_power = total / (images.shape[0] * images.shape[1])
    mean_r80 = float(torch.cat(radii).mean())
    fit_to = min(h, w) // 2
    slope, intercept = fit_power_law(mean_power, fit_to)

    rings = np.arange(1, mean_power.size)
    fitted = np.arange(1, fit_to + 1)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.loglog(rings, mean_power[1:], "o-", ms=3, label="mean power per ring")
    ax.loglog(fitted, np.exp(intercept) * fitted**-slope, "--", label=f"fit: r^-{slope:.2f}")
    ax.axvline(mean_r80, color="tab:red", ls=":", label=f"mean R80 = {mean_r80:.1f}")
    ax.set_xlabel("radius (frequency ring)")
    ax.set_ylabel("mean |F|^2")
    ax.set_title(f"radial power spectrum, {images.shape[0]} images {h}x{w}")
    ax.legend()
    fig.tight_layout()
    _save(fig, path)
    return {"slope": slope, "mean_r80": mean_r80}


def plot_frequency_splits(image: torch.Tensor, radii: list[float], path: str | Path) -> Path:
    """One image, its log amplitude spectrum with the radii, and its Wang et al. parts.

    Low parts are shown clipped to [0, 1] (they are not clipped in evaluation); high parts
    are min-max rescaled for visibility, as the title says.
    """
    image = _single_image(image)
    if not radii:
        raise UserError("radii must list at least one radius, e.g. scaled_radii(H)")
    h, w = image.shape[-2:]
    spectrum = torch.fft.fftshift(torch.fft.fft2(image[0].detach().cpu().float()), dim=(-2, -1))
    columns = len(radii) + 1
    fig, axes = plt.subplots(2, columns, figsize=(2.1 * columns, 5), squeeze=False)
    cmap = "gray" if image.shape[1] == 1 else None
    axes[0, 0].imshow(_display(image), cmap=cmap, vmin=0, vmax=1)
    axes[0, 0].set_title("image")
    axes[1, 0].imshow(spectrum.abs().mean(0).log1p().numpy(), cmap="magma")
    axes[1, 0].set_title("log(1 + |F|), radii")
    for col, radius in enumerate(radii, start=1):
        axes[1, 0].add_patch(Circle((w // 2, h // 2), radius, fill=False, color="cyan", lw=0.8))
        low, high = split_frequency(image, radius)
        axes[0, col].imshow(_display(low.clamp(0, 1)), cmap=cmap, vmin=0, vmax=1)
        axes[0, col].set_title(f"low, d < {radius:g}")
        axes[1, col].imshow(_display(_rescaled(high)), cmap=cmap, vmin=0, vmax=1)
        axes[1, col].set_title(f"high, d >= {radius:g}")
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle("frequency splits (low clipped to [0, 1]; high min-max rescaled for visibility)")
    fig.tight_layout()
    return _save(fig, path)


def plot_bass(image: torch.Tensor, path: str | Path) -> Path:
    """One image before and after BaSS, with both radial amplitude spectra (channel mean)."""
    image = _single_image(image)
    balanced = bass(image)
    before = radial_profile(image, "amplitude")[0].mean(0).cpu().numpy()
    after = radial_profile(balanced, "amplitude")[0].mean(0).cpu().numpy()
    cmap = "gray" if image.shape[1] == 1 else None
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 1, 1.6]})
    axes[0].imshow(_display(image), cmap=cmap, vmin=0, vmax=1)
    axes[0].set_title("original")
    axes[1].imshow(_display(balanced), cmap=cmap, vmin=0, vmax=1)
    axes[1].set_title("BaSS")
    for ax in axes[:2]:
        ax.axis("off")
    rings = np.arange(1, before.size)
    axes[2].semilogy(rings, before[1:], "o-", ms=3, label="original")
    axes[2].semilogy(rings, after[1:], "o-", ms=3, label="BaSS")
    axes[2].set_xlabel("radius (frequency ring)")
    axes[2].set_ylabel("mean |F| (pixels in [0, 1])")
    axes[2].set_title("radial amplitude spectrum")
    axes[2].legend()
    fig.tight_layout()
    return _save(fig, path)
