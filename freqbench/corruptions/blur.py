"""Blur corruptions: defocus, glass, motion and zoom (Hendrycks & Dietterich, ICLR 2019).

Each follows the reference CIFAR generator step by step, on the whole batch at once.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from freqbench.corruptions import ops
from freqbench.corruptions.ops import Images


@lru_cache(maxsize=16)
def disk_kernel(radius: float, alias_blur: float) -> NDArray[np.float64]:
    """The reference's anti-aliased disk: a normalised 0/1 disk, then a Gaussian.

    For radii up to 8 (every CIFAR severity, ImageNet's first four) the reference draws the
    disk on a 17x17 grid and blurs it with OpenCV's 3x3 Gaussian; only the centre
    ``2 * floor(radius) + 3`` pixels (at most the grid) can be non-zero, so the kernel is
    cropped to them. A larger radius (ImageNet's 10) gets a ``2 radius + 1`` grid and a 5x5
    Gaussian.
    """
    small = radius <= 8
    half = 8 if small else int(radius)
    grid = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    reach = 1 if small else 2
    g = np.exp(-(np.arange(-reach, reach + 1) ** 2) / (2 * alias_blur**2))
    g /= g.sum()
    kernel = ndimage.convolve(disk, np.outer(g, g), mode="mirror")
    keep = min(math.floor(radius) + 1, half)  # the whole grid for radii from 7 up
    return ops.read_only(kernel[half - keep : half + 1 + keep, half - keep : half + 1 + keep])


def defocus_blur(x: Images, c: tuple[float, float], rng: np.random.Generator) -> Images:
    """Convolution with an anti-aliased disk of the given radius (borders as OpenCV)."""
    kernel = disk_kernel(*c)
    return ops.correlate(x, np.broadcast_to(kernel, (len(x), *kernel.shape)), border="reflect")


def glass_blur(x: Images, c: tuple[float, int, int], rng: np.random.Generator) -> Images:
    """Gaussian blur, local pixel shuffling ``iterations`` times, Gaussian blur again."""
    sigma, delta, iterations = c
    n, _, h, w = x.shape
    x = ops.gaussian_blur(x, sigma)
    for _ in range(int(iterations)):
        # np.random.randint(-delta, delta) excludes delta: offsets lie in [-delta, delta).
        offsets = rng.integers(-delta, delta, size=(2, n, h - 2 * delta, w - 2 * delta))
        x = shuffle_pixels(x, offsets[0], offsets[1], int(delta))
    return ops.gaussian_blur(x, sigma)


def shuffle_pixels(x: Images, dy: NDArray[np.intp], dx: NDArray[np.intp], delta: int) -> Images:
    """The reference's shuffling loop, as one gather.

    The reference visits rows and columns ``H - delta`` down to ``delta + 1`` and "swaps"
    each pixel with the one at (h + dy, w + dx) by tuple assignment of numpy views, which
    copies that pixel instead of swapping (the second assignment writes back the value just
    copied). With offsets in [-delta, delta) and delta = 1, as at every CIFAR severity, the
    source is never a pixel already visited, so the whole loop is ``out[h, w] = x[h + dy,
    w + dx]`` on the original pixels. ``dy`` and ``dx`` have shape (N, H - 2 delta,
    W - 2 delta), indexed by rows and columns ``delta + 1 .. H - delta`` in increasing order.
    """
    n, _, h, w = x.shape
    rows = np.broadcast_to(np.arange(h)[:, None], (n, h, w)).copy()
    cols = np.broadcast_to(np.arange(w)[None, :], (n, h, w)).copy()
    inner = (slice(None), slice(delta + 1, h - delta + 1), slice(delta + 1, w - delta + 1))
    rows[inner] += dy
    cols[inner] += dx
    return ops.gather(x, rows * w + cols)


def motion_blur(x: Images, c: tuple[float, float], rng: np.random.Generator) -> Images:
    """ImageMagick-style motion blur (radius, sigma) at an angle uniform in [-45, 45]."""
    radius, sigma = c
    return ops.motion_blur(x, radius, sigma, rng.uniform(-45, 45, size=x.shape[0]))


def zoom_blur(x: Images, max_zoom: float, rng: np.random.Generator) -> Images:
    """Mean of the image and its centre zooms by 1, 1.01, ... (``np.arange(1, c, 0.01)``).

    The reference counts the unzoomed image twice (as itself and as zoom 1), and its
    ``arange`` includes the end point for 1.06 and 1.11 but not for the others; both kept.
    """
    zooms = tuple(np.arange(1, max_zoom, 0.01))
    h, w = x.shape[-2:]
    summed = ops.apply_operator(x, ops.summed_zoom_operator(h, w, zooms))
    return (x + summed) / (len(zooms) + 1)
