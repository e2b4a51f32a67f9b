"""A test split read from image files batch by batch, so that memory does not grow with it.

An :class:`ImageStream` holds the file list and the labels (a few bytes per image); the
pixels are decoded and preprocessed by DataLoader worker processes one batch at a time and
handed on. It offers what metrics use of an in-memory :class:`~freqbench.data.LabeledImages`
(``len``, ``labels``, ``info``, ``first``, ``batches``, ``take``, ``image_shape``), and no
``images``: a metric that wants them all at once must take a bounded part with ``take``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from freqbench.data.base import DatasetInfo, LabeledImages, check_first
from freqbench.data.preprocessing import build_transform, output_size
from freqbench.errors import UserError

if TYPE_CHECKING:
    import torch

#: Decoding processes per stream; ``$FREQBENCH_DATA_WORKERS`` overrides (0: decode in-process).
DEFAULT_WORKERS = min(8, os.cpu_count() or 1)


def data_workers() -> int:
    text = os.environ.get("FREQBENCH_DATA_WORKERS")
    if text is None:
        return DEFAULT_WORKERS
    if not text.isdigit():
        raise UserError(f"$FREQBENCH_DATA_WORKERS must be a whole number >= 0, got '{text}'")
    return int(text)


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

    def __init__(self, files: tuple[Path, ...], labels: list[int], preprocessing: str):
        self.files, self.labels = files, labels
        self.transform = build_transform(preprocessing)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image, UnidentifiedImageError

        path = self.files[index]
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB")
        except (OSError, UnidentifiedImageError) as exc:
            raise UserError(f"cannot decode {path} as an image ({exc}): replace the file") from None
        return self.transform(rgb), self.labels[index]


@dataclass
class ImageStream:
    """A split streamed from ``files`` through ``preprocessing`` (labels int64, in memory)."""

    files: tuple[Path, ...]
    labels: torch.Tensor
    info: DatasetInfo
    preprocessing: str
    split: str = "test"
    missing_hint: str = ""  # what the dataset's layout is and where its files come from

    def __post_init__(self) -> None:
        if len(self.files) != len(self.labels):
            raise ValueError(f"{len(self.files)} files but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.files)

    @property
    def images(self) -> torch.Tensor:
        raise UserError(
            f"{self.info.name} is streamed from image files, not held in memory: iterate "
            "data.batches(batch_size), or take a bounded part with data.take(start, stop)"
        )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        side = output_size(self.preprocessing)
        return (self.info.channels, side, side)

    def first(self, n: int | None) -> ImageStream:
        """The first ``n`` images (all with None), whose files must all be there."""
        if n is not None:
            check_first(n, len(self), self.info.name, self.split)
        part = self if n is None else replace(self, files=self.files[:n], labels=self.labels[:n])
        missing = [path for path in part.files if not path.is_file()]
        if missing:
            raise UserError(
                f"{len(missing)} of the {len(part)} {self.info.name} images evaluated are "
                f"missing, the first {missing[0]}: {self.missing_hint}"
            )
        return part

    def batches(
        self, batch_size: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Images ``start:stop`` in order, ``batch_size`` at a time, decoded by worker processes."""
        from torch.utils.data import DataLoader

        stop = len(self) if stop is None else min(stop, len(self))
        if start >= stop:
            return
        files = _Files(self.files[start:stop], self.labels[start:stop].tolist(), self.preprocessing)
        n_batches = -(-len(files) // batch_size)
        workers = min(data_workers(), n_batches)
        loader = DataLoader(
            files, batch_size=batch_size, shuffle=False,
            num_workers=workers if workers > 1 else 0,
        )  # fmt: skip
        try:
            for images, labels in loader:
                yield images, labels.long()
                del images
                release_free_memory()
        except UserError as exc:  # from a worker: its message is the last line of a traceback
            raise UserError(str(exc).strip().splitlines()[-1].split("UserError: ", 1)[-1]) from None

    def take(self, start: int, stop: int) -> LabeledImages:
        """Images ``start:stop`` decoded into memory: for a part a metric needs whole."""
        import torch

        parts = list(self.batches(max(1, min(stop - start, 256)), start, stop))
        images = torch.cat([x for x, _ in parts]) if parts else torch.empty(0, *self.image_shape)
        return LabeledImages(images, self.labels[start:stop], self.info, self.split)
