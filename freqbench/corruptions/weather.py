"""Weather corruptions: snow, frost, fog and brightness (Hendrycks & Dietterich, ICLR 2019).

Grayscale images (one channel) go through the same formulas: their luminance and their
HSV value are the gray level itself, the snow and fog layers are gray anyway, and the frost
texture enters with the luminance of its tint.
"""

from __future__ import annotations

import numpy as np

from freqbench.corruptions import ops
from freqbench.corruptions.ops import Images
from freqbench.corruptions.textures import frost_texture, plasma_fractal

# ITU-R 601 luma, as OpenCV's COLOR_RGB2GRAY in the reference's snow.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)[None, :, None, None]

FROST_IS_PROCEDURAL = True
"""The frost photographs of the reference are unavailable; records must say a procedural
ice texture (:func:`freqbench.corruptions.textures.frost_texture`) stood in for them."""


def _luminance(x: Images) -> Images:
    return x if x.shape[1] == 1 else (x * _LUMA).sum(axis=1, keepdims=True)


def snow(x: Images, c: tuple[float, ...], rng: np.random.Generator) -> Images:
    """Falling snow: thresholded, zoomed Gaussian noise streaked by a motion blur.

    The streak angle is uniform in [-135, -45] degrees per image; the layer is added
    once as is and once rotated by 180 degrees onto a brightened, desaturated image.
    """
    mean, std, zoom, threshold, radius, sigma, weight = c
    n, _, h, w = x.shape
    layer = (mean + std * ops.standard_normal(rng, (n, 1, h, w))).numpy()
    layer = ops.clipped_zoom(layer, zoom)
    layer = np.clip(np.where(layer < threshold, 0, layer), 0, 1)
    layer = ops.motion_blur(layer, radius, sigma, rng.uniform(-135, -45, size=n))
    x = weight * x + (1 - weight) * np.maximum(x, _luminance(x) * 1.5 + 0.5)
    return x + layer + layer[:, :, ::-1, ::-1]


def frost(x: Images, c: tuple[float, float], rng: np.random.Generator) -> Images:
    """``image_weight * x + frost_weight * ice``, with a procedural ice texture."""
    image_weight, frost_weight = c
    n, channels, h, w = x.shape
    ice = frost_texture(rng, n, h, w, channels)
    return np.float32(image_weight) * x + np.float32(frost_weight) * ice


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
