"""ImageNet-C's generator where it differs from the CIFAR one (Hendrycks & Dietterich, ICLR 2019).

Hendrycks' ``make_imagenet_c.py`` made the released ImageNet-C. Nine of its corruptions are the
CIFAR generator's with other parameters (:data:`freqbench.corruptions.params.IMAGENET_C_PARAMS`);
these six also change how they work:

- impulse noise: skimage's salt and pepper as its releases since 0.19 draw it (two Bernoulli
  draws per value), the package the reference calls;
- glass blur: pixel offsets up to 4, so the reference's "swap" loop reads pixels it already
  wrote; it runs in the reference's order, and the first blur is truncated to uint8 as there;
- zoom blur: zoom factors ``np.arange(1, stop, step)`` with steps of 0.01 to 0.03;
- frost: crops of the photographs at full size (the CIFAR generator shrinks them by 0.2);
- pixelate: PIL's two BOX resizes of the uint8 image, as the reference (exact);
- snow: the snow layer passes through 8 bits around ImageMagick's motion blur, as there: it is
  truncated to uint8 before the blur (a PIL 'L' image) and comes back as ImageMagick's 8-bit
  PNG. Kept in float (the CIFAR generator's snow), the layer was 0.2-0.4 levels brighter
  on average and up to 3 apart; with the two steps it equals the reference run with Wand.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from freqbench.corruptions import ops, weather
from freqbench.corruptions.ops import Images


def impulse_noise(x: Images, amount: float, rng: np.random.Generator) -> Images:
    """skimage's ``random_noise(mode='s&p', amount=amount)``: a value flips where a uniform
    draw is <= amount, and becomes 1 where a second, independent draw is <= 0.5, else 0."""
    flipped = rng.random(x.shape) <= amount
    salted = rng.random(x.shape) <= 0.5
    out = x.copy()
    out[flipped & salted] = 1
    out[flipped & ~salted] = 0
    return out


def glass_blur(x: Images, c: tuple[float, int, int], rng: np.random.Generator) -> Images:
    """Gaussian blur truncated to uint8, ``iterations`` passes of the reference's local
    shuffling (:func:`shuffle_in_order`), Gaussian blur again."""
    sigma, delta, iterations = c
    n, _, h, w = x.shape
    x = np.floor(ops.gaussian_blur(x, sigma) * 255) / np.float32(255)  # np.uint8(... * 255)
    for _ in range(int(iterations)):
        # np.random.randint(-delta, delta) excludes delta: offsets lie in [-delta, delta).
        offsets = rng.integers(-delta, delta, size=(2, n, h - 2 * delta, w - 2 * delta))
        x = shuffle_in_order(x, offsets[0], offsets[1], int(delta))
    return ops.gaussian_blur(x, sigma)


def shuffle_in_order(x: Images, dy: NDArray[np.intp], dx: NDArray[np.intp], delta: int) -> Images:
    """The reference's shuffling loop, run in its order over the whole batch at once.

    The reference visits rows ``H - delta`` down to ``delta + 1`` and, in each, columns
    ``W - delta`` down to ``delta + 1``, and "swaps" a pixel with the one at (h + dy, w + dx)
    by tuple assignment of numpy views, which copies that pixel instead. With offsets up to
    ``delta - 1`` > 0 the source may be a pixel the loop already wrote, so the order matters
    and is kept. ``dy`` and ``dx``: (N, H - 2 delta, W - 2 delta), indexed by rows and
    columns ``delta + 1 ..`` in increasing order.
    """
    n, _, h, w = x.shape
    out = x.copy()
    images = np.arange(n)
    for row in range(h - delta, delta, -1):
        i = row - delta - 1
        for col in range(w - delta, delta, -1):
            j = col - delta - 1
            out[images, :, row, col] = out[images, :, row + dy[:, i, j], col + dx[:, i, j]]
    return out


def zoom_blur(x: Images, c: tuple[float, float], rng: np.random.Generator) -> Images:
    """Mean of the image and its centre zooms by ``np.arange(1, stop, step)`` (the unzoomed
    image counted twice, as the reference does)."""
    stop, step = c
    zooms = tuple(np.arange(1, stop, step))
    h, w = x.shape[-2:]
    summed = ops.apply_operator(x, ops.summed_zoom_operator(h, w, zooms))
    return (x + summed) / (len(zooms) + 1)


def frost(x: Images, c: tuple[float, float], rng: np.random.Generator) -> Images:
    """Hendrycks' frost with crops of the photographs at full size."""
    return weather.frost(x, c, rng, full_size=True)


def snow(x: Images, c: tuple[float, ...], rng: np.random.Generator) -> Images:
    """Hendrycks' snow with the reference's two 8-bit steps around the motion blur."""
    return weather.snow(x, c, rng, eight_bit=True)


def pixelate(x: Images, factor: float, rng: np.random.Generator) -> Images:
    """Shrink to ``int(side * factor)`` with PIL's BOX filter and enlarge back with BOX, by PIL
    on the uint8 image, as the reference does (PIL rounds after each pass of the shrink, so
    a float version differs by a level in a third of the values)."""
    _, c, h, w = x.shape
    small = (int(w * factor), int(h * factor))
    pixels = np.round(x * 255).astype(np.uint8).transpose(0, 2, 3, 1)
    out = np.empty_like(pixels)
    for i, image in enumerate(pixels):
        resized = Image.fromarray(image.squeeze(-1) if c == 1 else image).resize(small, Image.BOX)
        out[i] = np.asarray(resized.resize((w, h), Image.BOX)).reshape(h, w, c)
    return out.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)
