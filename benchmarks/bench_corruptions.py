"""Throughput of the batched CIFAR-10-C corruptions against per-image calls and imagecorruptions.

Run ``python benchmarks/bench_corruptions.py`` (``imagecorruptions`` is optional: ``pip install
imagecorruptions==1.1.2 scikit-image``). On the first 1000 real Fashion-MNIST test images
(28x28x1) and on 1000 synthetic 32x32x3 images, at severity 3, it times for each corruption:

- batched: one ``corrupt`` call on all images;
- per image: ``corrupt`` on one image at a time, the same code without the batching, timed
  on 1 and on 2 torch threads and credited with the faster (on shared cores, two threads
  can stall on tiny inputs while a neighbour's process holds the other core);
- imagecorruptions: the PyPI package (uint8 HWC, one image at a time), where it has the
  corruption and does not fail on current numpy / scikit-image. It uses the ImageNet-C
  parameters, not CIFAR-10-C's, so its work per image differs: a reference point only.

The target is a speed-up of at least 20x over the per-image loop, summed over the 15
corruptions. Batched timings are on 2 torch threads; every timing is the best of a few
repeats (the least noisy figure on shared cores); imagecorruptions runs once.

Frost also runs against Hendrycks' CIFAR frost itself (``make_cifar_c.py``, needs OpenCV) on
the same synthetic 32x32 RGB images at every severity: as written (it reads and resizes a
photograph for every image) and with the resized photographs cached, next to freqbench's
batched frost; it prints the times, their ratios and both mean |corrupted - clean|.
"""

from __future__ import annotations

import gzip
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from freqbench.corruptions import CORRUPTIONS, corrupt
from freqbench.corruptions.photographs import DIRECTORY as FROST_DIRECTORY

N_IMAGES = 1000
SEVERITY = 3
TARGET = 20.0
THREADS = 2
BATCHED_REPEATS = 3
SINGLE_REPEATS = 1  # per thread count
FMNIST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def fashion_mnist(n: int) -> torch.Tensor | None:
    """The first ``n`` real test images (IDX: 16-byte header, then uint8 pixels)."""
    if not FMNIST.is_file():
        return None
    with gzip.open(FMNIST, "rb") as f:
        pixels = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)
    return torch.from_numpy(pixels[:n] / np.float32(255))


def synthetic_rgb(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Smooth colour fields with one flat rectangle each: edges and gradients, like photos."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(
        rng.standard_normal((n, 3, size, size)), (0, 0, 2, 2), mode="wrap"
    )
    low = field.min(axis=(2, 3), keepdims=True)
    images = (field - low) / (field.max(axis=(2, 3), keepdims=True) - low)
    tops = rng.integers(0, size // 2, size=(n, 2))
    sides = rng.integers(6, size // 2, size=(n, 2))
    colours = rng.random((n, 3))
    for image, (r, c), (h, w), colour in zip(images, tops, sides, colours, strict=True):
        image[:, r : r + h, c : c + w] = colour[:, None, None]
    return torch.from_numpy(images.astype(np.float32))


def seconds(fn: Callable[[], object], repeats: int = 1) -> float:
    """Best wall-clock time of ``repeats`` runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def per_image_seconds(images: torch.Tensor, name: str) -> float:
    """Best time of the per-image loop on 1 and on ``THREADS`` torch threads."""
    best = float("inf")
    for threads in (1, THREADS):
        torch.set_num_threads(threads)
        best = min(
            best,
            seconds(
                lambda: [corrupt(images[i : i + 1], name, SEVERITY) for i in range(len(images))],
                SINGLE_REPEATS,
            ),
        )
    torch.set_num_threads(THREADS)
    return best


def imagecorruptions_fn() -> tuple[Callable[..., np.ndarray] | None, set[str]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from imagecorruptions import corrupt as ic_corrupt
            from imagecorruptions import get_corruption_names
    except ImportError:
        return None, set()
    return ic_corrupt, set(get_corruption_names("all"))


def time_imagecorruptions(
    ic_corrupt: Callable[..., np.ndarray], images: torch.Tensor, name: str
) -> str:
    """Images/s of imagecorruptions on uint8 HWC images, or why it failed."""
    pixels = (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)  # it expects RGB
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            elapsed = seconds(
                lambda: [ic_corrupt(p, corruption_name=name, severity=SEVERITY) for p in pixels]
            )
    except Exception as error:  # report every failure, whatever its kind
        return f"fails: {type(error).__name__}: {str(error)[:52]}"
    return f"{len(pixels) / elapsed:.0f}"


def run(label: str, images: torch.Tensor) -> None:
    ic_corrupt, ic_names = imagecorruptions_fn()
    header = (
        f"{'corruption':<18} {'batched img/s':>14} {'per-image img/s':>16} {'ratio':>7}"
        f"  imagecorruptions img/s (ImageNet-C params)"
    )
    print(
        f"\n{label}: {tuple(images.shape)}, severity {SEVERITY}, best of 1 and 2 threads per image"
    )
    print(header)
    print("-" * len(header))
    total_batched = total_single = 0.0
    for name in CORRUPTIONS:
        batched = seconds(lambda n=name: corrupt(images, n, SEVERITY), BATCHED_REPEATS)
        single = per_image_seconds(images, name)
        total_batched += batched
        total_single += single
        if ic_corrupt is None:
            reference = "not installed"
        elif name in ic_names:
            reference = time_imagecorruptions(ic_corrupt, images, name)
        else:
            reference = "not in package"
        n = len(images)
        print(
            f"{name:<18} {n / batched:>14.0f} {n / single:>16.0f} {single / batched:>6.1f}x"
            f"  {reference}"
        )
    ratio = total_single / total_batched
    verdict = "meets" if ratio >= TARGET else "misses"
    print("-" * len(header))
    print(
        f"{'all 15 (sum)':<18} {15 * len(images) / total_batched:>14.0f}"
        f" {15 * len(images) / total_single:>16.0f} {ratio:>6.1f}x"
        f"  {verdict} the {TARGET:.0f}x target"
    )


FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")


def reference_frost(x: np.ndarray, severity: int, load: Callable[[str], np.ndarray]) -> np.ndarray:
    """make_cifar_c.py's frost on a 32x32x3 uint8 image; ``load`` reads and resizes a file."""
    c = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][severity - 1]
    idx = np.random.randint(5)
    frost = load(FROST_FILES[idx])
    x_start = np.random.randint(0, frost.shape[0] - 32)
    y_start = np.random.randint(0, frost.shape[1] - 32)
    frost = frost[x_start : x_start + 32, y_start : y_start + 32][..., [2, 1, 0]]
    return np.clip(c[0] * np.array(x) + c[1] * frost, 0, 255)


def frost_against_reference(images: torch.Tensor) -> None:
    """freqbench's batched frost against the reference's per-image frost, same 32x32 RGB input."""
    try:
        import cv2
    except ImportError:
        print("\nfrost against the reference: skipped (needs OpenCV: pip install opencv-python)")
        return

    def load(name: str) -> np.ndarray:  # as the reference: read and resize on every call
        return cv2.resize(cv2.imread(str(FROST_DIRECTORY / name)), (0, 0), fx=0.2, fy=0.2)

    cache = {name: load(name) for name in FROST_FILES}
    pixels = (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    clean = torch.from_numpy(pixels / np.float32(255)).permute(0, 3, 1, 2).contiguous()
    n = len(images)
    print(f"\nfrost against Hendrycks' CIFAR frost: {n} synthetic 32x32 RGB images, uint8 input")
    header = (
        f"{'severity':>8} {'batched s':>10} {'reference s':>12} {'ratio':>7}"
        f" {'cached ref s':>13} {'ratio':>7} {'|diff| batched':>15} {'|diff| ref':>11}"
    )
    print(header)
    print("-" * len(header))
    for severity in range(1, 6):
        out = corrupt(clean, "frost", severity)
        batched = seconds(lambda s=severity: corrupt(clean, "frost", s), BATCHED_REPEATS)
        np.random.seed(0)
        literal = seconds(lambda s=severity: [reference_frost(p, s, load) for p in pixels])
        cached = seconds(
            lambda s=severity: [reference_frost(p, s, cache.__getitem__) for p in pixels]
        )
        reference = np.stack(
            [np.uint8(reference_frost(p, severity, cache.__getitem__)) for p in pixels]
        )
        ours = float((out - clean).abs().mean()) * 255
        theirs = float(np.abs(reference.astype(np.float64) - pixels).mean())
        print(
            f"{severity:>8} {batched:>10.4f} {literal:>12.4f} {literal / batched:>6.1f}x"
            f" {cached:>13.4f} {cached / batched:>6.1f}x {ours:>15.2f} {theirs:>11.2f}"
        )


def main() -> None:
    torch.set_num_threads(THREADS)
    real = fashion_mnist(N_IMAGES)
    if real is None:
        print(f"Fashion-MNIST not found at {FMNIST}: skipping the real images")
    else:
        run("Fashion-MNIST test images", real)
    run("synthetic RGB images", synthetic_rgb(N_IMAGES))
    frost_against_reference(synthetic_rgb(N_IMAGES))
    print(
        "\nimagecorruptions uses ImageNet-C severity parameters (tuned for 224x224), not the"
        " CIFAR-10-C ones used here, so its per-image work differs; compare orders of magnitude."
    )


if __name__ == "__main__":
    main()
