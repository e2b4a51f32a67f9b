"""Digital corruptions: contrast, elastic transform, pixelate and JPEG compression.

Hendrycks & Dietterich (ICLR 2019), reference CIFAR generator, on the whole batch at once
except JPEG, which PIL encodes one image at a time.
"""

from __future__ import annotations

from functools import lru_cache
from io import BytesIO

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

from freqbench.corruptions import ops
from freqbench.corruptions.ops import Images


def contrast(x: Images, factor: float, rng: np.random.Generator) -> Images:
    """Shrink each channel's deviation from its own mean by ``factor``."""
    means = x.mean(axis=(2, 3), keepdims=True)
    return (x - means) * np.float32(factor) + means


def elastic_transform(x: Images, c: tuple[float, float, float], rng: np.random.Generator) -> Images:
    """A random affine warp, then a smooth random displacement field (Simard et al. 2003).

    Affine: three points around the centre, ``min(H, W) // 3`` pixels out, each move by
    up to ``jitter`` pixels; the image follows them (OpenCV ``warpAffine``, bilinear,
    reflect-101 border). Elastic: per pixel, uniform(-1, 1) displacements smoothed by a
    Gaussian (sigma, reflect border, truncate 3), times alpha; bilinear resampling with
    scipy's ``reflect`` border. All three parameters are in pixels.
    """
    alpha, sigma, jitter = c
    n, _, h, w = x.shape
    cx, cy, size = w // 2, h // 2, min(h, w) // 3
    src = np.array([[cx + size, cy + size], [cx + size, cy - size], [cx - size, cy - size]])
    dst = src + rng.uniform(-jitter, jitter, size=(n, 3, 2))
    # warpAffine reads pixel q of the output at the source point mapped to q, so solve for
    # the affine map dst -> src: [x, y, 1] @ back = source (x, y).
    back = np.linalg.solve(np.concatenate([dst, np.ones((n, 3, 1))], axis=2), src[None] * 1.0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    coef = back[:, :, :, None, None]
    cols = coef[:, 0, 0] * xx + coef[:, 1, 0] * yy + coef[:, 2, 0]
    rows = coef[:, 0, 1] * xx + coef[:, 1, 1] * yy + coef[:, 2, 1]
    x = ops.bilinear(x, rows, cols, border="mirror")

    def displacement() -> NDArray[np.float32]:
        noise = 2 * rng.random((n, h, w), dtype=np.float32) - 1  # uniform(-1, 1)
        smooth = ndimage.gaussian_filter(noise, (0, sigma, sigma), mode="reflect", truncate=3)
        return smooth * np.float32(alpha)

    dx, dy = displacement(), displacement()
    return ops.bilinear(x, yy + dy, xx + dx, border="symmetric")


def pil_box_matrix(in_size: int, out_size: int) -> NDArray[np.float64]:
    """PIL's BOX resampling from ``in_size`` to ``out_size`` pixels as an (out, in) matrix.

    Pillow's ``precompute_coeffs``: output pixel j is centred at (j + 0.5) * in / out and
    averages, with equal weights, the input pixels whose centres fall in its box (half-open,
    one input pixel wide when enlarging, so enlarging picks the nearest pixel).
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    centre = ((np.arange(out_size) + 0.5) * scale)[:, None]
    i = np.arange(in_size)[None, :]
    t = (i - centre + 0.5) / filterscale
    inside = (i >= (centre - support + 0.5).astype(int)) & (
        i < (centre + support + 0.5).astype(int)
    )
    weights = (inside & (t > -0.5) & (t <= 0.5)).astype(np.float64)
    return weights / weights.sum(axis=1, keepdims=True)


def pixelate(x: Images, factor: float, rng: np.random.Generator) -> Images:
    """Shrink to ``int(side * factor)`` with PIL's BOX filter, enlarge back with BOX.

    Both resizes are linear and separable, so each axis is one (side, side) matrix, built
    to match Pillow's coefficients exactly.
    """
    h, w = x.shape[-2:]
    return ops.apply_separable(x, _pixelate_matrix(h, factor), _pixelate_matrix(w, factor))


@lru_cache(maxsize=32)
def _pixelate_matrix(size: int, factor: float) -> NDArray[np.float32]:
    small = int(size * factor)
    matrix = pil_box_matrix(small, size) @ pil_box_matrix(size, small)
    return ops.read_only(matrix.astype(np.float32))


def jpeg_compression(x: Images, quality: int, rng: np.random.Generator) -> Images:
    """Encode and decode with PIL's JPEG at ``quality``: RGB images as RGB, gray as 'L'.

    A loop over images: PIL (libjpeg) encodes one image at a time.
    """
    pixels = np.ascontiguousarray(np.round(x * 255).astype(np.uint8).transpose(0, 2, 3, 1))
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]  # a 2-D array becomes a mode 'L' image
    out = np.empty_like(pixels)
    for i, image in enumerate(pixels):
        buffer = BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
        out[i] = np.asarray(Image.open(buffer))
    out = out.reshape(x.shape[0], x.shape[2], x.shape[3], x.shape[1]).transpose(0, 3, 1, 2)
    return out.astype(np.float32) / np.float32(255)
