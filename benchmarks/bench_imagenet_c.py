"""Generating ImageNet-C: freqbench's batched generator against the imagecorruptions package.

Run ``python benchmarks/bench_imagenet_c.py [--images 16] [--severity 3]`` from the repository
root (imagecorruptions comes with the ``dev`` extra). On the same synthetic 224 x 224 uint8
images, for each of the 15 corruptions, it times freqbench's ``imagenet`` generator on the
whole batch and imagecorruptions' function image by image (its ``corrupt`` path: a PIL image
in, ``np.uint8`` out), and prints both in images/s and their ratio. imagecorruptions needs two
shims on today's libraries (skimage's ``gaussian`` lost ``multichannel``, numpy lost
``np.float_``); its motion blur, snow, frost, elastic transform and pixelate are not
make_imagenet_c.py's (see tests/test_imagenet_c.py), so their timings compare like work, not
the same work. JPEG encoding (quality 85) of each corrupted image is timed apart.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from io import BytesIO

import numpy as np
import torch
from PIL import Image
from scipy import ndimage


def photos(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    field = ndimage.gaussian_filter(rng.standard_normal((n, 224, 224, 3)), (0, 6, 6, 0))
    low, high = field.min(axis=(1, 2, 3), keepdims=True), field.max(axis=(1, 2, 3), keepdims=True)
    return ((field - low) / (high - low) * 255).astype(np.uint8)


def imagecorruptions_module():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import imagecorruptions.corruptions as ic
    from skimage.filters import gaussian

    def gaussian_with_multichannel(image, sigma, multichannel=False, **kwargs):
        return gaussian(image, sigma=sigma, channel_axis=-1 if multichannel else None, **kwargs)

    ic.gaussian = gaussian_with_multichannel
    np.float_ = np.float64  # removed in numpy 2; plasma_fractal still asks for it
    return ic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--severity", type=int, default=3)
    args = parser.parse_args()

    from freqbench.corruptions import CORRUPTIONS, corrupt

    ic = imagecorruptions_module()
    pixels = photos(args.images)
    x = torch.from_numpy(pixels.transpose(0, 3, 1, 2).copy()).float() / 255
    print(f"{args.images} images of 224 x 224, severity {args.severity}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'corruption':18s} {'freqbench':>12s} {'imagecorruptions':>17s} {'ratio':>7s}")
    total_ours = total_reference = 0.0
    for name in CORRUPTIONS:
        corrupt(x[:1], name, args.severity, profile="imagenet")  # warm caches (kernels, photos)
        start = time.perf_counter()
        corrupt(x, name, args.severity, profile="imagenet")
        ours = time.perf_counter() - start
        function = getattr(ic, name)
        start = time.perf_counter()
        for image in pixels:
            np.uint8(function(Image.fromarray(image), args.severity))
        reference = time.perf_counter() - start
        total_ours, total_reference = total_ours + ours, total_reference + reference
        print(f"{name:18s} {args.images / ours:9.1f}/s {args.images / reference:14.1f}/s "
              f"{reference / ours:6.2f}x")  # fmt: skip
    print(f"{'all 15':18s} {15 * args.images / total_ours:9.1f}/s "
          f"{15 * args.images / total_reference:14.1f}/s {total_reference / total_ours:6.2f}x")  # fmt: skip
    start = time.perf_counter()
    for image in pixels:
        Image.fromarray(image).save(BytesIO(), "JPEG", quality=85, optimize=True)
    jpeg = time.perf_counter() - start
    print(f"JPEG quality 85 (both): {args.images / jpeg:.1f} images/s")
    per_image = total_ours / (15 * args.images) + jpeg / args.images
    print(f"\nfreqbench, one severity of all 15 corruptions: {per_image * 15:.2f} s per image; the "
          f"75 cells of RobustBench's 5000 images: {per_image * 75 * 5000 / 3600:.1f} h "
          f"(projected from the rate above, made once per image set)")  # fmt: skip


if __name__ == "__main__":
    main()
