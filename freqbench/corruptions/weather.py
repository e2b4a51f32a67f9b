"""Weather corruptions: snow, frost, fog and brightness (Hendrycks & Dietterich, ICLR 2019).

Grayscale images (one channel) go through the same formulas: their luminance and their
HSV value are the gray level itself, the snow and fog layers are gray anyway, and the frost
photograph enters with its luma.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from freqbench.corruptions import ops
from freqbench.corruptions.ops import Images
from freqbench.corruptions.photographs import CHOICES, frost_photographs
from freqbench.corruptions.textures import plasma_fractal
from freqbench.errors import UserError

# ITU-R 601 luma, as OpenCV's COLOR_RGB2GRAY in the reference's snow.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)[None, :, None, None]

FROST_SOURCE = "hendrycks-photographs"
"""What frost blends in: crops of the reference's own frost photographs (see
:mod:`freqbench.corruptions.photographs`)."""


def _luminance(x: Images) -> Images:
    return x if x.shape[1] == 1 else (x * _LUMA).sum(axis=1, keepdims=True)


def snow(
    x: Images, c: tuple[float, ...], rng: np.random.Generator, eight_bit: bool = False
) -> Images:
    """Falling snow: thresholded, zoomed Gaussian noise streaked by a motion blur.

    The streak angle is uniform in [-135, -45] degrees per image; the layer is added
    once as is and once rotated by 180 degrees onto a brightened, desaturated image.
    ``eight_bit``: the layer passes through 8 bits around the blur, as ImageMagick's does in
    the reference (:func:`freqbench.corruptions.imagenet_c.snow`); else it stays float.
    """
    mean, std, zoom, threshold, radius, sigma, weight = c
    n, _, h, w = x.shape
    layer = (mean + std * ops.standard_normal(rng, (n, 1, h, w))).numpy()
    layer = ops.clipped_zoom(layer, zoom)
    layer = np.clip(np.where(layer < threshold, 0, layer), 0, 1)
    angles = rng.uniform(-135, -45, size=n)
    if eight_bit:
        layer = ops.motion_blur(np.floor(layer * 255), radius, sigma, angles)  # np.uint8 first
        layer = (ops.imagemagick_8_bit(layer) / 255).astype(np.float32)
    else:
        layer = ops.motion_blur(layer, radius, sigma, angles)
    x = weight * x + (1 - weight) * np.maximum(x, _luminance(x) * 1.5 + 0.5)
    return x + layer + layer[:, :, ::-1, ::-1]


class FrostCrops(NamedTuple):
    """Where each image's frost comes from: one entry per image."""

    photo: NDArray[np.int64]
    """Index into the reference's list: 0 is frost1.png, ..., 4 is frost5.jpg."""
    top: NDArray[np.int64]
    """First row of the crop in the resized photograph (the reference's ``x_start``)."""
    left: NDArray[np.int64]
    """First column (the reference's ``y_start``)."""


def check_frost_size(height: int, width: int, full_size: bool = False) -> None:
    """Frost crops the image's size from every photograph it may draw: it must fit."""
    photos = frost_photographs(full_size)
    max_h, max_w = int(photos.heights.min()) - 1, int(photos.widths.min()) - 1
    if height > max_h or width > max_w:
        how = "at full size" if full_size else "shrunk by 0.2"
        raise UserError(
            f"frost crops its layer from the reference's photographs {how}, which have at "
            f"least {max_h + 1} rows and {max_w + 1} columns: images can be at most "
            f"{max_h}x{max_w} pixels for it, got {height}x{width}"
        )


def draw_frost_crops(
    rng: np.random.Generator, n: int, height: int, width: int, full_size: bool = False
) -> FrostCrops:
    """The reference's draws for ``n`` images of ``height`` x ``width``.

    Per image, as the reference: a photograph from the first ``CHOICES`` (5) of its six
    (``np.random.randint(5)``, so frost6.jpg is never drawn), then a crop whose top left
    corner is uniform in ``[0, rows - height) x [0, cols - width)`` of the photograph, shrunk
    by 0.2 (CIFAR) or at ``full_size`` (ImageNet), upper bounds excluded as
    ``np.random.randint``'s. The photographs for the whole batch are drawn first, then the
    rows, then the columns.
    """
    check_frost_size(height, width, full_size)
    photos = frost_photographs(full_size)
    photo = rng.integers(CHOICES, size=n)
    top = rng.integers(0, photos.heights[photo] - height)
    left = rng.integers(0, photos.widths[photo] - width)
    return FrostCrops(photo, top, left)


def frost_layer(
    crops: FrostCrops, height: int, width: int, channels: int, full_size: bool = False
) -> Images:
    """The (N, channels, height, width) crops in [0, 1]: RGB, or their luma for one channel."""
    # Every height x width window of every photograph, as a view; indexing it copies the
    # n chosen windows, a contiguous block each.
    windows = np.lib.stride_tricks.sliding_window_view(
        frost_photographs(full_size).rgb, (height, width), axis=(2, 3)
    )
    layer = windows[crops.photo, :, crops.top, crops.left]
    return layer if channels == 3 else _luminance(layer)


def frost(
    x: Images, c: tuple[float, float], rng: np.random.Generator, full_size: bool = False
) -> Images:
    """``image_weight * x + frost_weight * photo``: Hendrycks' frost, on [0, 1].

    ``photo`` is a random crop of the image's size from one of the reference's frost
    photographs, shrunk by 0.2 for CIFAR, at ``full_size`` for ImageNet
    (:func:`draw_frost_crops`, :func:`frost_layer`); the reference computes the same sum on
    the 0-255 scale and clips it.
    """
    image_weight, frost_weight = c
    n, channels, h, w = x.shape
    crops = draw_frost_crops(rng, n, h, w, full_size)
    layer = frost_layer(crops, h, w, channels, full_size)
    return np.float32(image_weight) * x + np.float32(frost_weight) * layer


def fog(x: Images, c: tuple[float, float], rng: np.random.Generator) -> Images:
    """Plasma-fractal haze added to the image, then rescaled by its old maximum.

    The reference's map is 32x32 for CIFAR; larger images get the next power of two and
    every image is cropped from the top left corner, as the reference does.
    """
    strength, decay = c
    n, _, h, w = x.shape
    mapsize = max(32, 1 << (max(h, w) - 1).bit_length())
    haze = plasma_fractal(rng, n, mapsize, decay)[:, None, :h, :w].astype(np.float32)
    max_val = x.max(axis=(1, 2, 3), keepdims=True)
    return (x + np.float32(strength) * haze) * max_val / (max_val + np.float32(strength))


def brightness(x: Images, shift: float, rng: np.random.Generator) -> Images:
    """Add ``shift`` to the HSV value channel, as skimage's rgb2hsv / hsv2rgb round trip.

    With hue and saturation fixed every RGB component is proportional to the value
    V = max(R, G, B), so the round trip scales the pixel by V' / V with V' = min(V + shift,
    1); a black pixel (V = 0, saturation 0) becomes gray V'. For one channel V is the gray
    level, so this is ``min(x + shift, 1)``.
    """
    value = x.max(axis=1, keepdims=True)
    new_value = np.minimum(value + np.float32(shift), 1)
    scale = np.divide(new_value, value, out=np.zeros_like(value), where=value > 0)
    return np.where(value > 0, x * scale, new_value)
