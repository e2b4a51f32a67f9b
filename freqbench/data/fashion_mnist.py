"""Fashion-MNIST (Xiao et al., 2017) from local IDX files, Debian's package, or torchvision."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from freqbench.data.base import DatasetInfo, register_dataset
from freqbench.data.idx import read_idx
from freqbench.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    import torch

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Where a directory may hold the files: itself, or the layouts of other tools.
_SUBDIRS = ("", "fashion-mnist", "FashionMNIST/raw")

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
INFO = DatasetInfo(
    name="fashion-mnist",
    num_classes=10,
    channels=1,
    image_size=(28, 28),
    mean=(0.2860,),
    std=(0.3530,),
    eps={"Linf": 0.1, "L2": 1.5, "L1": 10.0},  # L1: docs/threat-models.md says why
    class_names=CLASS_NAMES,
    description="Zalando article images, 28x28 grayscale, 60000 train / 10000 test",
    test_size=10000,
    standard_counts={"autoattack_n_examples": 1000},  # the first 1000 test images
    variants=("bass",),
)


def _find(directory: Path, stem: str) -> Path | None:
    for sub in _SUBDIRS:
        for suffix in (".gz", ""):
            path = directory / sub / f"{stem}{suffix}"
            if path.is_file():
                return path
    return None


def _check_split(images: np.ndarray, labels: np.ndarray, image_file: Path, label_file: Path):
    """The files must hold N 28x28 uint8 images and N labels in 0..9."""
    import numpy as np

    size = INFO.image_size
    if images.ndim != 3 or images.shape[1:] != size or images.dtype != np.uint8:
        raise UserError(
            f"{image_file} holds {images.dtype} values of shape {images.shape}, not Fashion-MNIST "
            f"images (N x {size[0]} x {size[1]}, uint8)"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise UserError(
            f"{label_file} holds {labels.dtype} values of shape {labels.shape}, not Fashion-MNIST "
            "labels (N, uint8)"
        )
    if len(images) != len(labels):
        raise UserError(
            f"{image_file} holds {len(images)} images but {label_file} holds {len(labels)} "
            "labels: the two files do not belong together"
        )
    if len(labels) and int(labels.max()) >= INFO.num_classes:
        raise UserError(
            f"{label_file} holds the label {int(labels.max())}; Fashion-MNIST labels are 0 to "
            f"{INFO.num_classes - 1}"
        )


def _torchvision_download(root: Path) -> Path:
    from torchvision.datasets import FashionMNIST

    FashionMNIST(str(root), train=True, download=True)
    FashionMNIST(str(root), train=False, download=True)
    return root


@lru_cache(maxsize=4)
def _load_cached(split: str, data_dir: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    candidates = [d for d in (data_dir, DEBIAN_DIR) if d is not None]
    for directory in candidates:
        paths = [_find(directory, stem) for stem in _FILES[split]]
        if all(paths):
            images, labels = (read_idx(p) for p in paths)  # type: ignore[arg-type]
            _check_split(images, labels, *paths)  # type: ignore[arg-type]
            return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.copy())
    download_root = data_dir or Path.home() / ".cache" / "freqbench" / "data"
    try:
        _torchvision_download(download_root)
    except Exception as exc:  # no network, or a mirror down: say every way to get the data
        raise UserError(
            "Fashion-MNIST not found. Looked in: --data-dir / $FREQBENCH_DATA "
            f"({data_dir or 'not set'}), {DEBIAN_DIR} (Debian: `apt-get install "
            f"dataset-fashion-mnist`), then tried a torchvision download into {download_root}, "
            f"which failed ({type(exc).__name__}: {exc}). Put the four IDX files "
            "(e.g. train-images-idx3-ubyte.gz) in a directory and pass it with --data-dir."
        ) from None
    return _load_cached(split, download_root)


@register_dataset(INFO)
def load_fashion_mnist(split: str, data_dir: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = _load_cached(split, data_dir)
    return images, labels
