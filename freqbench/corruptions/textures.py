"""Procedural textures: the reference's plasma fractal (fog) and a stand-in frost texture."""

from __future__ import annotations

import math

import numpy as np
import torch
from numpy.typing import NDArray

from freqbench.corruptions import ops

Maps = NDArray[np.float64]


def _wibbled_mean(total: Maps, wibble: float, rng: np.random.Generator) -> Maps:
    # The reference multiplies by wibble twice (wibble * uniform(-wibble, wibble)); kept.
    return total / 4 + wibble * rng.uniform(-wibble, wibble, size=total.shape)


def plasma_fractal(rng: np.random.Generator, n: int, mapsize: int, wibble_decay: float) -> Maps:
    """``n`` diamond-square height maps of side ``mapsize`` (a power of two), each in [0, 1].

    The reference's ``plasma_fractal`` (a modification of FLHerne's mapgen), with a batch
    axis in front: each level fills square centres, then diamond centres, from the mean of
    their four neighbours (wrapping around) plus noise whose scale shrinks by
    ``wibble_decay`` per level.
    """
    maps = np.zeros((n, mapsize, mapsize))
    step, wibble = mapsize, 100.0
    while step >= 2:
        half = step // 2
        corners = maps[:, ::step, ::step]
        square = corners + np.roll(corners, -1, axis=1)
        square = square + np.roll(square, -1, axis=2)
        maps[:, half::step, half::step] = _wibbled_mean(square, wibble, rng)
        centres = maps[:, half::step, half::step]
        left = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        maps[:, ::step, half::step] = _wibbled_mean(left, wibble, rng)
        top = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        maps[:, half::step, ::step] = _wibbled_mean(top, wibble, rng)
        step //= 2
        wibble /= wibble_decay
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


# Octaves of the ridged noise as (smoothing sigma in pixels, weight), coarse to fine.
_RIDGE_SIGMAS = (4.0, 2.0, 1.0)
_RIDGE_WEIGHTS = (0.5, 0.3, 0.2)
# Bluish white of ice, and its luminance (ITU-R 601) for grayscale images.
_ICE_TINT = np.array([0.82, 0.9, 1.0])
_ICE_LUMA = float(np.dot([0.299, 0.587, 0.114], _ICE_TINT))


def _periodic_smooth_noise(rng: np.random.Generator, n: int, h: int, w: int) -> torch.Tensor:
    """White noise smoothed by periodic Gaussians, one octave per sigma: (octaves, N, H, W)."""
    noise = ops.standard_normal(rng, (len(_RIDGE_SIGMAS), n, h, w))
    sigmas = torch.tensor(_RIDGE_SIGMAS)[:, None, None, None]
    freq2 = torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.rfftfreq(w)[None, :] ** 2
    transfer = torch.exp(-2 * math.pi**2 * sigmas**2 * freq2)
    return torch.fft.irfft2(torch.fft.rfft2(noise) * transfer, s=(h, w))


def frost_texture(
    rng: np.random.Generator, n: int, height: int, width: int, channels: int
) -> NDArray[np.float32]:
    """``n`` procedural ice textures of shape (channels, height, width), values in [0, 1].

    A stand-in for the reference's frost photographs, which are not available here. Ice
    crystals on glass are thin bright veins and needles over a dimmer haze, so the texture
    adds (a) ridged fractal noise, bright along the zero crossings of smoothed white noise
    at three scales, and (b) needles: sparse seeds smeared by a motion blur at a random
    angle per image. It is tinted bluish white; a grayscale image gets the tint's luminance.
    """
    fields = _periodic_smooth_noise(rng, n, height, width)
    fields = fields / fields.std(dim=(2, 3), keepdim=True)
    ridges = (1 - fields.abs()).clamp(min=0) ** 3
    veins = (torch.tensor(_RIDGE_WEIGHTS)[:, None, None, None] * ridges).sum(dim=0).numpy()
    seeds = (rng.random((n, 1, height, width), dtype=np.float32) < 0.03).astype(np.float32)
    # Angles in [-90, 90] give every orientation of a line: the blur is one-sided.
    needles = ops.motion_blur(seeds, 5, 3.0, rng.uniform(-90, 90, size=n))[:, 0]
    value = np.clip(0.2 + 1.2 * veins + needles, 0, 1)
    if channels == 1:
        return (value * _ICE_LUMA)[:, None].astype(np.float32)
    return (value[:, None] * _ICE_TINT[None, :, None, None]).astype(np.float32)
