"""Hendrycks' frost photographs: checked, decoded, resized as his CIFAR generator does (his
ImageNet generator crops them at full size), cached.

The six files ship with freqbench in ``freqbench/corruptions/frost/`` (Apache-2.0, Hendrycks &
Dietterich; see the README there), byte-identical to ``ImageNet-C/create_c/`` of
github.com/hendrycks/robustness and to the ``imagecorruptions`` package on PyPI. Each file's
SHA-256 is checked when it is loaded; a missing or altered file is a :class:`UserError` that
names it.

The reference reads a photograph with ``cv2.imread`` (BGR, alpha dropped) and shrinks it with
``cv2.resize(frost, (0, 0), fx=0.2, fy=0.2)``. That bilinear resize has ``round(0.2 * side)``
output pixels along each side, and output pixel i sits at source coordinate
``(i + 0.5) * 5 - 0.5 = 5 i + 2``, a whole pixel, so it only picks pixels ``2, 7, 12, ...``:
that is done here by slicing, without OpenCV. Pillow decodes the files (OpenCV is no
runtime dependency); on the vendored files its RGB equals ``cv2.imread``'s BGR reversed,
pixel for pixel, PNG and JPEG alike (the tests compare both against OpenCV when installed).
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from freqbench.corruptions.ops import read_only
from freqbench.errors import UserError

DIRECTORY = Path(__file__).with_name("frost")
"""Where the photographs are; a module attribute, so that tests can point it elsewhere."""

SHA256: dict[str, str] = {
    "frost1.png": "ff9f907860bd7a835d459e32f9d588062b7f61ee267343cc7222b56753a14755",
    "frost2.png": "fe211a89b336999c207a852ce05818d4545d0b57c5beadd824b4cc9d9a9b6137",
    "frost3.png": "2d0d50b4a9bb213f38b024ef7768731bb83cc08d2f26b5766bbc167cdfa0e504",
    "frost4.jpg": "3f8b91ca1a9fa7167b09e773da53f5ae60d0a1fd88f02a783f6e328a72887f6e",
    "frost5.jpg": "5fc6a19df4a429ba68abdcc8f8a4278d4c9f81c9ccafd2c92ab0c8cf8992ebd2",
    "frost6.jpg": "1f92b2f48408748085b68dd81d816ef239f42cef3029c25d041fcb6760fb4f25",
}
"""The reference's list of photographs, in its order, with each file's SHA-256."""

CHOICES = 5
"""The reference draws ``np.random.randint(5)`` from its list of six, so frost6.jpg is never
used; the published CIFAR-10-C was made that way and the quirk is kept. (frost2.png and
frost3.png also have identical pixels: they differ in metadata only.)"""

SCALE_STEP, SCALE_START = 5, 2
"""``cv2.resize(fx=0.2, fy=0.2)`` keeps source pixels ``SCALE_START + SCALE_STEP * i``."""


class FrostPhotographs(NamedTuple):
    """The ``CHOICES`` photographs the reference draws from, resized (or not) and padded to one
    array."""

    rgb: NDArray[np.float32]
    """(CHOICES, 3, H, W) RGB in [0, 1]; photograph k fills ``[:heights[k], :widths[k]]``."""
    heights: NDArray[np.intp]
    widths: NDArray[np.intp]


def frost_photographs(full_size: bool = False) -> FrostPhotographs:
    """The photographs shrunk by 0.2 as the CIFAR generator reads them, or at ``full_size`` as
    the ImageNet generator does; loaded and checked once per process (read-only arrays)."""
    return _load(DIRECTORY, full_size)


def read_photograph(name: str, directory: Path | None = None) -> bytes:
    """The bytes of one vendored photograph, after checking its SHA-256."""
    path = (DIRECTORY if directory is None else directory) / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(
            f"the frost photograph {name} is missing (looked for {path}); reinstall freqbench, "
            "which ships Hendrycks' frost photographs as package data"
        ) from None
    except OSError as error:
        raise UserError(f"the frost photograph {name} at {path} cannot be read: {error}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name]:
        raise UserError(
            f"the frost photograph {name} at {path} is altered: its SHA-256 is {digest}, "
            f"expected {SHA256[name]}; reinstall freqbench"
        )
    return data


def resize_like_reference(photo: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``cv2.resize(photo, (0, 0), fx=0.2, fy=0.2)`` (bilinear) of an (H, W, C) array, exactly."""
    h, w = photo.shape[:2]
    rows = SCALE_START + SCALE_STEP * np.arange(round(0.2 * h))
    cols = SCALE_START + SCALE_STEP * np.arange(round(0.2 * w))
    return photo[rows[:, None], cols[None, :]]


@lru_cache(maxsize=4)
def _load(directory: Path, full_size: bool) -> FrostPhotographs:
    data = {name: read_photograph(name, directory) for name in SHA256}  # all six are checked
    photos = []
    for name in list(SHA256)[:CHOICES]:
        with Image.open(io.BytesIO(data[name])) as image:
            rgb = np.asarray(image.convert("RGB"))  # drops the PNGs' alpha, as cv2.imread
        rgb = rgb if full_size else resize_like_reference(rgb)
        photos.append(rgb.transpose(2, 0, 1) / np.float32(255))
    heights = np.array([p.shape[1] for p in photos], dtype=np.intp)
    widths = np.array([p.shape[2] for p in photos], dtype=np.intp)
    rgb = np.zeros((CHOICES, 3, heights.max(), widths.max()), dtype=np.float32)
    for k, photo in enumerate(photos):
        rgb[k, :, : heights[k], : widths[k]] = photo
    return FrostPhotographs(read_only(rgb), read_only(heights), read_only(widths))
