"""Image files decoded batch by batch by DataLoader worker processes, so that memory does not
grow with their number: the reading side of :class:`~freqbench.data.base.ImageStream`."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from freqbench.bounds import MAX_CPUS, NumberRange, from_environment
from freqbench.data.preprocessing import build_transform
from freqbench.errors import UserError

if TYPE_CHECKING:
    import torch

#: Decoding processes per stream; ``$FREQBENCH_DATA_WORKERS`` overrides (0: decode in-process).
DEFAULT_WORKERS = min(8, os.cpu_count() or 1)
#: Its range: 0 (in-process) up to as many processes as any machine has CPUs.
WORKERS = NumberRange(int, 0, MAX_CPUS)


def data_workers() -> int:
    return int(from_environment("FREQBENCH_DATA_WORKERS", DEFAULT_WORKERS, WORKERS))


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


def decoded_batches(
    files: tuple[Path, ...], labels: list[int], preprocessing: str, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``files`` in order, ``batch_size`` at a time, through ``preprocessing``."""
    from torch.utils.data import DataLoader

    if not files:
        return
    dataset = _Files(files, labels, preprocessing)
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
