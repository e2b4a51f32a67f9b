"""Image files decoded batch by batch by DataLoader worker processes, so that memory does not
grow with their number: the reading side of :class:`~freqbench.data.base.ImageStream`."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import re
import stat
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from freqbench.bounds import MAX_CPUS, NumberRange, from_environment
from freqbench.data.preprocessing import build_transform
from freqbench.errors import UserError

if TYPE_CHECKING:
    import torch
    from PIL import Image

#: Decoding processes per stream; ``$FREQBENCH_DATA_WORKERS`` overrides (0: decode in-process).
DEFAULT_WORKERS = min(8, os.cpu_count() or 1)
#: Its range: 0 (in-process) up to as many processes as any machine has CPUs.
WORKERS = NumberRange(int, 0, MAX_CPUS)


def data_workers() -> int:
    return int(from_environment("FREQBENCH_DATA_WORKERS", DEFAULT_WORKERS, WORKERS))


#: PIL's own limit (its ``Image.MAX_IMAGE_PIXELS``): larger images are refused as possible
#: decompression bombs; ``$FREQBENCH_MAX_IMAGE_PIXELS`` sets another.
DEFAULT_MAX_IMAGE_PIXELS = 1024 * 1024 * 1024 // 4 // 3
#: PIL modes whose pixels ``convert("RGB")`` clips to 0..255 instead of scaling (16-bit and
#: 32-bit integers, 32-bit floats): robustbench's and timm's loaders read such a file as
#: (nearly) all white or all black.
_WIDE_MODES = {"I": "32-bit integer", "F": "32-bit float"}


def max_image_pixels() -> int:
    """The most pixels an image file may have: ``$FREQBENCH_MAX_IMAGE_PIXELS`` or PIL's."""
    text = os.environ.get("FREQBENCH_MAX_IMAGE_PIXELS")
    if text is None:
        return DEFAULT_MAX_IMAGE_PIXELS
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise UserError(
            f"$FREQBENCH_MAX_IMAGE_PIXELS must be a whole number of pixels >= 1 (default "
            f"{DEFAULT_MAX_IMAGE_PIXELS}, PIL's), got '{text}'"
        )
    return int(text)


def not_a_file(path: Path) -> str | None:
    """What ``path`` is when it is no regular file to open (a link to one is one): "missing",
    "a folder", "a FIFO", ...; None for a regular file. A FIFO would block the reader and a
    device never ends, so only regular files are opened."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "not a regular file"


def _wide_mode(mode: str) -> str | None:
    return "16-bit integer" if mode.startswith("I;16") else _WIDE_MODES.get(mode)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Give the heap's free pages back to the system after a batch. Forward passes over
    batches arriving from worker processes fragment glibc's heap: the peak memory of a clean
    evaluation grew 11% from 500 to 5,000 images (about 3 MB a batch) without this, and stays
    flat with it (benchmarks/bench_imagenet.py)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class _Files:
    """A map-style dataset over image files: PIL decode, RGB, the model's preprocessing."""

    def __init__(
        self, files: tuple[Path, ...], labels: list[int], preprocessing: str, max_pixels: int
    ):
        self.files, self.labels, self.max_pixels = files, labels, max_pixels
        self.transform = build_transform(preprocessing)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.read(self.files[index])), self.labels[index]

    def read(self, path: Path) -> Image.Image:
        """``path`` as an RGB image, as robustbench's and timm's loaders (and torchvision's
        ``default_loader``) read it: ``convert("RGB")`` of what PIL decodes (a palette looked
        up, alpha dropped, grey repeated). What those loaders would read wrongly is refused."""
        from PIL import Image, UnidentifiedImageError

        what = not_a_file(path)
        if what is not None:
            raise UserError(f"{path} is {what}, not an image file: replace it with the image")
        try:
            with _pixel_limit(self.max_pixels), Image.open(path) as image:
                mode = image.mode
                rgb = None if _wide_mode(mode) else image.convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # PIL's words, "Image size (N pixels) exceeds limit of ...", name twice the limit
            counted = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"{counted[1]} pixels, more than" if counted else "more than"
            raise UserError(
                f"{path} has {size} the limit of {self.max_pixels} pixels: refused as a possible "
                "decompression bomb. If it is a genuine image, raise the limit with "
                "$FREQBENCH_MAX_IMAGE_PIXELS"
            ) from None
        except (OSError, ValueError, UnidentifiedImageError) as exc:
            raise UserError(f"cannot decode {path} as an image ({exc}): replace the file") from None
        if rgb is None:
            raise UserError(
                f"{path} holds {_wide_mode(mode)} pixels (PIL mode {mode}): robustbench's and "
                "timm's loaders read such a file as nearly all white or black, so freqbench "
                "refuses it; convert it to an 8-bit image (values scaled to 0..255, saved as "
                "8-bit PNG or JPEG)"
            )
        return rgb


@contextlib.contextmanager
def _pixel_limit(limit: int) -> Iterator[None]:
    """PIL's decompression-bomb guard at ``limit`` pixels, past which PIL only warns (and
    raises past twice the limit): here both raise. PIL's own setting is restored after."""
    from PIL import Image

    before = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = before


def decoded_batches(
    files: tuple[Path, ...], labels: list[int], preprocessing: str, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``files`` in order, ``batch_size`` at a time, through ``preprocessing``."""
    from torch.utils.data import DataLoader

    if not files:
        return
    dataset = _Files(files, labels, preprocessing, max_image_pixels())
    workers = min(data_workers(), -(-len(files) // batch_size))
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers if workers > 1 else 0
    )
    try:
        for images, batch_labels in loader:
            yield images, batch_labels.long()
            del images
            release_free_memory()
    except UserError as exc:  # from a worker: its message is the last line of a traceback
        raise UserError(str(exc).strip().splitlines()[-1].split("UserError: ", 1)[-1]) from None
