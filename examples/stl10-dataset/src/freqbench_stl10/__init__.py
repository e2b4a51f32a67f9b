"""STL-10 (Coates, Ng and Lee, AISTATS 2011) as a freqbench dataset, from its binary release.

``stl10_binary/{train,test}_X.bin`` hold uint8 images of 3 x 96 x 96, each channel stored
column by column (column-major), and ``{train,test}_y.bin`` one uint8 label per image, 1 to
10 (https://cs.stanford.edu/~acoates/stl10/). The card below is everything freqbench needs;
the entry point in pyproject.toml names it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from freqbench.data import CorruptionSources, DatasetInfo
from freqbench.errors import UserError

SIDE = 96
IMAGE_BYTES = 3 * SIDE * SIDE
LAYOUT = (
    "expected STL-10's binary release: <data-dir>/stl10_binary/test_X.bin and test_y.bin "
    "(stl10_binary.tar.gz of https://cs.stanford.edu/~acoates/stl10/, unpacked)"
)


def _folder(data_dir: Path | None) -> Path:
    root = data_dir or Path.home() / ".cache" / "freqbench" / "data"
    for folder in (root / "stl10_binary", root):
        if (folder / "test_X.bin").is_file():
            return folder
    raise UserError(f"no STL-10 files under {root}: {LAYOUT}")


def read_split(split: str, data_dir: Path | None):
    """``(images uint8 (N, 3, 96, 96), labels int64 0..9)`` of ``split``."""
    import torch

    folder = _folder(data_dir)
    pixels = np.fromfile(folder / f"{split}_X.bin", dtype=np.uint8)
    labels = np.fromfile(folder / f"{split}_y.bin", dtype=np.uint8).astype(np.int64) - 1
    if pixels.size % IMAGE_BYTES or pixels.size // IMAGE_BYTES != labels.size:
        raise UserError(
            f"{folder}: {pixels.size} image bytes and {labels.size} labels do not make whole "
            f"{SIDE} x {SIDE} x 3 images, one label each: {LAYOUT}"
        )
    if labels.size and not (labels.min() >= 0 and labels.max() < 10):
        raise UserError(f"{folder / f'{split}_y.bin'} holds labels outside 1..10: {LAYOUT}")
    # (N, C, W, H) as stored, column-major; swapped to freqbench's (N, C, H, W).
    images = pixels.reshape(-1, 3, SIDE, SIDE).transpose(0, 1, 3, 2)
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)


STL10 = DatasetInfo(
    name="stl10",
    num_classes=10,
    channels=3,
    image_size=(SIDE, SIDE),
    mean=(0.4467, 0.4398, 0.4066),
    std=(0.2603, 0.2566, 0.2713),
    eps={"Linf": 8 / 255},
    class_names=(
        "airplane",
        "bird",
        "car",
        "cat",
        "deer",
        "dog",
        "horse",
        "monkey",
        "ship",
        "truck",
    ),
    description="STL-10, 96x96 colour images in 10 classes, 5000 train / 8000 test",
    test_size=8000,
    read=read_split,
    corruptions=CorruptionSources(generated="cifar"),
)
