"""Corrupted copies of a test set held in memory, generated CIFAR-10-C style and cached.

The 15 corruptions are made at 5 severities by :mod:`freqbench.corruptions` and stored as
uint8, as the references save their sets (``np.uint8`` of the 0-255 image: truncation). A
cell depends only on the images, the seed and the generator, so it is made once and kept in
the array cache (:mod:`freqbench.cache`): every other model evaluated on the same images
reads it back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from freqbench.cache import content_key

if TYPE_CHECKING:
    import torch

    from freqbench.cache import ArrayCache
    from freqbench.data.base import LabeledImages

GENERATION_CHUNK = 1000  # images corrupted per call: fixes the random streams and bounds memory
#: What a cached cell was made by: a change to any corruption makes every cell anew.
GENERATOR = "freqbench-corruptions/3"

Cell = tuple[str, int]  # (corruption, severity)
CellBatches = Iterator[tuple[str, int, "torch.Tensor", "torch.Tensor"]]


def quantize(images: torch.Tensor) -> np.ndarray:
    """Images in [0, 1] as the reference saves them: ``np.uint8(255 x)``, truncating."""
    return (images.detach().cpu().numpy() * 255).astype(np.uint8)


def cell_key(images_sha256: str, seed: int, name: str, severity: int) -> str:
    """The cache key of one generated cell: the images, the seed, the cell and the generator."""
    return content_key({
        "kind": "corruption-cell", "generator": GENERATOR, "images": images_sha256,
        "seed": seed, "corruption": name, "severity": severity, "chunk": GENERATION_CHUNK,
    })  # fmt: skip


def images_sha256(images: torch.Tensor) -> str:
    digest = hashlib.sha256(str(tuple(images.shape)).encode())
    digest.update(images.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def generated_cells(
    data: LabeledImages, seed: int, cells: list[Cell], cache: ArrayCache
) -> CellBatches:
    """Each cell's chunks, drawn from the streams (seed, corruption, severity, chunk), so that
    a cell does not depend on which other cells are computed with it; read from ``cache``
    when another evaluation made it already, else made and stored there."""
    import torch

    from freqbench.corruptions import corrupted_batches

    shared = images_sha256(data.images)
    for name, severity in cells:
        key = cell_key(shared, seed, name, severity)
        stored = cache.get(key, shape=data.images.shape, dtype=np.uint8)
        if stored is None:
            parts = [
                quantize(batch.images)
                for batch in corrupted_batches(
                    data.images,
                    data.labels,
                    names=(name,),
                    severities=(severity,),
                    seed=seed,
                    chunk_size=GENERATION_CHUNK,
                )
            ]
            stored = np.concatenate(parts) if parts else quantize(data.images[:0])
            cache.put(key, stored, f"{data.info.name} {len(data)} images: {name} {severity}")
        for start in range(0, len(data), GENERATION_CHUNK):
            part = torch.from_numpy(stored[start : start + GENERATION_CHUNK]).float() / 255
            yield name, severity, part, data.labels[start : start + GENERATION_CHUNK]
