"""Batched array operations shared by the corruptions.

All functions take and return float32 arrays of shape (N, C, H, W) and work on the whole
batch at once: per-image randomness (angles, offsets, displacement fields) enters as arrays
with a leading batch axis, and pixel look-ups are one gather over the batch.
"""

from __future__ import annotations

import math
import zlib
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from scipy import ndimage, sparse

Images = NDArray[np.float32]


def make_rng(seed: int, name: str, severity: int, stream: int = 0) -> np.random.Generator:
    """A generator seeded from (seed, name, severity, stream).

    crc32 rather than ``hash`` keeps the name's contribution stable across processes.
    """
    entropy = [seed, zlib.crc32(name.encode()), severity, stream]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def read_only(array: NDArray[np.generic]) -> NDArray[np.generic]:
    """Mark a cached array read-only, so that no caller can change it for the others."""
    array.setflags(write=False)
    return array


def standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    """float32 N(0, 1) samples from torch's sampler (twice numpy's speed), seeded by ``rng``."""
    generator = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
    return torch.randn(shape, generator=generator)


def gaussian_blur(x: Images, sigma: float) -> Images:
    """Spatial Gaussian blur as skimage's ``gaussian`` (``mode='nearest'``, truncate 4)."""
    return ndimage.gaussian_filter(x, sigma=(0, 0, sigma, sigma), mode="nearest", truncate=4.0)


def correlate(
    x: Images, kernels: NDArray[np.floating], border: str, origin: tuple[int, int] | None = None
) -> Images:
    """Correlate every channel of image n with ``kernels[n]``.

    ``out[y, x] = sum kernel[i, j] * image[y + i - oy, x + j - ox]`` with ``origin`` (oy, ox),
    the kernel's centre by default. ``border`` is torch's padding mode: ``"reflect"`` is
    OpenCV's BORDER_REFLECT_101 (``dcb|abcd|cba``), ``"replicate"`` repeats the edge. One
    grouped convolution with a group per image and channel; in torch that is many times
    faster than a batch of single-channel convolutions.
    """
    n, c, h, w = x.shape
    kh, kw = kernels.shape[-2:]
    oy, ox = origin if origin is not None else (kh // 2, kw // 2)
    padded = F.pad(torch.from_numpy(x), (ox, kw - 1 - ox, oy, kh - 1 - oy), mode=border)
    weight = torch.tensor(kernels, dtype=torch.float32).repeat_interleave(c, dim=0)[:, None]
    out = F.conv2d(padded.reshape(1, n * c, *padded.shape[-2:]), weight, groups=n * c)
    return out.reshape(n, c, h, w).numpy()


@lru_cache(maxsize=64)
def zoom_matrix(size: int, zoom: float) -> NDArray[np.float32]:
    """Matrix of the reference's ``clipped_zoom`` along one axis.

    The reference crops the centre ``ceil(size / zoom)`` pixels, enlarges them with
    ``scipy.ndimage.zoom(order=1)`` (output length ``round(crop * zoom)``, corner-aligned
    grid) and trims the centre ``size`` pixels; all three steps are linear and separable.
    """
    crop = math.ceil(size / zoom)
    top = (size - crop) // 2
    out = round(crop * zoom)
    trim = (out - size) // 2
    coords = np.arange(trim, trim + size) * ((crop - 1) / (out - 1))
    low = np.clip(np.floor(coords).astype(np.intp), 0, crop - 1)
    high = np.minimum(low + 1, crop - 1)
    frac = coords - low
    matrix = np.zeros((size, size))
    rows = np.arange(size)
    np.add.at(matrix, (rows, top + low), 1 - frac)
    np.add.at(matrix, (rows, top + high), frac)
    return read_only(matrix.astype(np.float32))


def apply_separable(x: Images, rows: NDArray[np.float32], cols: NDArray[np.float32]) -> Images:
    """``rows @ image @ cols.T`` for every image and channel (a separable linear resampling)."""
    return (torch.tensor(rows) @ torch.from_numpy(x) @ torch.tensor(cols).T).numpy()


def clipped_zoom(x: Images, zoom: float) -> Images:
    """Zoom into the centre of every image by ``zoom`` (reference ``clipped_zoom``)."""
    h, w = x.shape[-2:]
    return apply_separable(x, zoom_matrix(h, zoom), zoom_matrix(w, zoom))


@lru_cache(maxsize=16)
def summed_zoom_operator(h: int, w: int, zooms: tuple[float, ...]) -> sparse.csr_matrix:
    """The sum over ``zooms`` of ``clipped_zoom`` as one sparse (H*W, H*W) operator.

    Each zoom moves a pixel's weight to at most four neighbours, so the summed operator
    has about a dozen entries per row: one sparse product replaces a product per zoom.
    """
    return sum(
        (
            sparse.kron(sparse.csr_matrix(zoom_matrix(h, z)), sparse.csr_matrix(zoom_matrix(w, z)))
            for z in zooms
        ),
        start=sparse.csr_matrix((h * w, h * w), dtype=np.float32),
    ).tocsr()


def apply_operator(x: Images, operator: sparse.csr_matrix) -> Images:
    """Apply a linear (H*W, H*W) operator to every image and channel."""
    flat = x.reshape(-1, x.shape[-2] * x.shape[-1])
    return np.ascontiguousarray((operator @ flat.T).T, dtype=np.float32).reshape(x.shape)


def gather(x: Images, flat_index: NDArray[np.intp]) -> Images:
    """``out[n, c, p] = x[n, c, flat_index[n, p]]`` with pixels flattened to ``H * W``."""
    n, c, h, w = x.shape
    t = torch.from_numpy(x).reshape(n, c, h * w)
    index = torch.from_numpy(flat_index.reshape(n, 1, h * w)).expand(n, c, h * w)
    return t.gather(2, index).reshape(n, c, h, w).numpy()


def bilinear(
    x: Images, rows: NDArray[np.floating], cols: NDArray[np.floating], border: str
) -> Images:
    """Sample every image at its own (N, H, W) pixel coordinates, bilinearly.

    ``border="mirror"`` reflects about the edge pixels' centres (OpenCV's BORDER_REFLECT_101,
    the warpAffine default); ``"symmetric"`` reflects about the image's edge (scipy's
    ``map_coordinates(mode='reflect')``). They are torch's ``grid_sample`` reflection padding
    with ``align_corners`` True and False.
    """
    h, w = x.shape[-2:]
    corners = border == "mirror"
    if corners:
        gx, gy = 2 * cols / (w - 1) - 1, 2 * rows / (h - 1) - 1
    else:
        gx, gy = (2 * cols + 1) / w - 1, (2 * rows + 1) / h - 1
    grid = torch.from_numpy(np.stack([gx, gy], axis=-1).astype(np.float32))
    out = F.grid_sample(
        torch.from_numpy(x), grid, mode="bilinear", padding_mode="reflection", align_corners=corners
    )
    return out.numpy()


def motion_blur(x: Images, radius: float, sigma: float, angles: NDArray[np.float64]) -> Images:
    """ImageMagick's ``MotionBlurImage``, one angle (degrees) per image.

    ImageMagick averages ``2 * ceil(radius) + 1`` pixels along the direction of the angle,
    weighted by a one-sided Gaussian exp(-i^2 / (2 sigma^2)), with tap i at the offset
    ``ceil(i * (cos, sin) - 0.5)``; pixels beyond the border repeat the edge. The taps make
    one sparse kernel per image, applied by :func:`correlate`.
    """
    taps = np.arange(2 * math.ceil(radius) + 1)
    weights = np.exp(-(taps**2) / (2 * sigma**2))
    weights /= weights.sum()
    theta = np.deg2rad(angles)
    dx = np.ceil(taps[:, None] * np.cos(theta) - 0.5).astype(np.intp)
    dy = np.ceil(taps[:, None] * np.sin(theta) - 0.5).astype(np.intp)
    # One kernel per image over the box that all taps of the batch fall in.
    kernels = np.zeros((len(angles), dy.max() - dy.min() + 1, dx.max() - dx.min() + 1))
    image = np.broadcast_to(np.arange(len(angles)), dy.shape)
    rows, cols = dy - dy.min(), dx - dx.min()
    # Two taps can round to the same offset: accumulate.
    np.add.at(kernels, (image, rows, cols), np.broadcast_to(weights[:, None], dy.shape))
    return correlate(x, kernels, border="replicate", origin=(-dy.min(), -dx.min()))


def imagemagick_8_bit(x: Images) -> NDArray[np.float64]:
    """Values on the 0..255 scale as ImageMagick (Q16, the build the reference's Wand calls)
    writes them to an 8-bit PNG: rounded to its 16-bit quantum (``ClampToQuantum``), then
    scaled down to 8 bits by truncation (``ScaleQuantumToAny``). Equal to Wand's output
    value for value (``tests/test_imagenet_c.py``); a plain rounding is 0.4 levels brighter on
    average."""
    quantum = np.clip(np.floor(x.astype(np.float64) * 257 + 0.5), 0, 65535)
    return np.floor(quantum / 257)
