"""ImageNet-C generated from a streamed test set as ``make_imagenet_c.py`` made the release.

Resize(256) + CenterCrop(224) of each image (RobustBench's Res256Crop224), the ImageNet-C
generator (:mod:`freqbench.corruptions`, profile ``imagenet``), np.uint8, a JPEG of quality
85 with ``optimize=True``, read back as the release's 224 x 224 JPEGs are read (Res224
leaves them as they are). Chunks are cached by their own files (:mod:`freqbench.cache`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from freqbench.cache import content_key
from freqbench.data.generated_corruptions import Cell, CellBatches, quantize

if TYPE_CHECKING:
    import torch

    from freqbench.cache import ArrayCache
    from freqbench.data.base import ImageStream

#: ImageNet-C as make_imagenet_c.py made it: Resize(256) + CenterCrop(224) of each image
#: (RobustBench's Res256Crop224), the ImageNet-C generator, np.uint8, a JPEG of quality 85.
IMAGENET_C_PREPROCESSING = "Res256Crop224"
#: 2: snow passes through the reference's two 8-bit steps (1 kept its layer in float).
IMAGENET_C_GENERATOR = "freqbench-imagenet-c/2"
IMAGENET_C_CHUNK = 100  # 224 x 224 images corrupted per call (60 MB as float32)
IMAGENET_C_QUALITY = 85


def generated_imagenet_c(
    data: ImageStream, seed: int, cells: list[Cell], cache: ArrayCache
) -> CellBatches:
    """Each cell of ImageNet-C made from ``data``'s files as make_imagenet_c.py made the
    release (see the module docstring), chunk by chunk of :data:`IMAGENET_C_CHUNK` images,
    chunk k drawing from stream (seed, corruption, severity, k). A chunk's JPEGs are one
    ``cache`` entry (the byte offsets as int64, then the files), keyed by its own files, so
    memory holds one chunk and a chunk is made once for every image set that starts with
    it; each model decodes them."""
    from dataclasses import replace

    source = replace(data, preprocessing=IMAGENET_C_PREPROCESSING)
    chunks = range(0, len(data), IMAGENET_C_CHUNK)
    shared = [data.content_sha256(k, k + IMAGENET_C_CHUNK) for k in chunks]
    for name, severity in cells:
        for k, start in enumerate(chunks):
            stop = min(start + IMAGENET_C_CHUNK, len(data))
            key = content_key({
                "kind": "imagenet-c-chunk", "generator": IMAGENET_C_GENERATOR,
                "images": shared[k], "seed": seed, "corruption": name, "severity": severity,
                "chunk": IMAGENET_C_CHUNK, "stream": k,
            })  # fmt: skip
            stored = cache.get(key, shape=(None,), dtype=np.uint8)
            files = None if stored is None else _jpeg_files(stored, stop - start)
            if stored is not None and files is None:
                cache.discard(key, f"its offsets do not split it into {stop - start} JPEG files")
            if files is None:
                stored = _corrupted_jpegs(source, start, stop, name, severity, seed, k)
                what = f"{data.info.name} images {start}-{stop - 1}: ImageNet-C {name} {severity}"
                cache.put(key, stored, what)
                files = _jpeg_files(stored, stop - start)
            yield name, severity, _as_batch([_decoded(f) for f in files]), data.labels[start:stop]


def chunk_count(n_images: int) -> int:
    """Chunks one cell of ``n_images`` is made in."""
    return -(-n_images // IMAGENET_C_CHUNK)


def _corrupted_jpegs(
    source: ImageStream, start: int, stop: int, name: str, severity: int, seed: int, stream: int
) -> np.ndarray:
    """Images ``start:stop`` corrupted and saved as JPEGs: the byte offsets (int64), then the
    files, as one uint8 array."""
    from freqbench.corruptions import corrupt

    [(images, _)] = list(source.batches(stop - start, start, stop))
    corrupted = corrupt(images, name, severity, seed, profile="imagenet", stream=stream)
    files = [_jpeg(image) for image in quantize(corrupted)]
    offsets = np.cumsum([0] + [len(f) for f in files], dtype=np.int64)
    return np.concatenate([np.frombuffer(offsets.tobytes(), np.uint8), *files])


def _jpeg_files(stored: np.ndarray, n: int) -> list[np.ndarray] | None:
    """The ``n`` files of a chunk made by :func:`_corrupted_jpegs`, or None when its offsets
    do not split it (n + 1 of them, from 0, never falling, ending where its bytes end)."""
    head = 8 * (n + 1)
    if len(stored) < head:
        return None
    offsets, body = stored[:head].view(np.int64), stored[head:]
    if offsets[0] != 0 or offsets[-1] != len(body) or np.any(np.diff(offsets) < 0):
        return None
    return [body[offsets[i] : offsets[i + 1]] for i in range(n)]


def _jpeg(image: np.ndarray) -> np.ndarray:
    """A (C, H, W) uint8 image as the release saved it: PIL JPEG, quality 85, optimized."""
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.fromarray(image.transpose(1, 2, 0)).save(
        buffer, format="JPEG", quality=IMAGENET_C_QUALITY, optimize=True
    )
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8)


def _decoded(jpeg: np.ndarray) -> np.ndarray:
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(jpeg.tobytes())) as image:
        return np.asarray(image.convert("RGB"))


def _as_batch(images: list[np.ndarray]) -> torch.Tensor:
    import torch

    return torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2)).float() / 255
