"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009) in the official "python version" layout.

The batches are pickles; they are read with an unpickler that only admits the numpy types
the official files use, so a tampered file cannot run code.
"""

from __future__ import annotations

import pickle
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from freqbench.data.base import CorruptionSources, DatasetInfo, register_dataset
from freqbench.errors import UserError

if TYPE_CHECKING:  # numpy and torch load with the files, not with the card
    import torch

_CIFAR_MEAN, _CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)
_CIFAR100_MEAN, _CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)

#: AutoAttack on the whole test set, as RobustBench does.
_STANDARD_COUNTS = {"autoattack_n_examples": 10000}
CIFAR10 = DatasetInfo(
    "cifar10", 10, 3, (32, 32), _CIFAR_MEAN, _CIFAR_STD, {"Linf": 8 / 255, "L2": 0.5, "L1": 12.0},
    ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    "32x32 colour images in 10 classes, 50000 train / 10000 test", 10000,
    standard_counts=_STANDARD_COUNTS,
    corruptions=CorruptionSources("cifar", {"common": "cifar10-c"}),
    variants=("bass",),
)  # fmt: skip
CIFAR100 = DatasetInfo(
    "cifar100", 100, 3, (32, 32), _CIFAR100_MEAN, _CIFAR100_STD, {"Linf": 8 / 255, "L2": 0.5, "L1": 12.0}, (),
    "32x32 colour images in 100 classes, 50000 train / 10000 test", 10000,
    standard_counts=_STANDARD_COUNTS,
    corruptions=CorruptionSources("cifar", {"common": "cifar100-c"}),
    variants=("bass",),
)  # fmt: skip

_LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels"),
}  # fmt: skip
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UserError(f"refusing to unpickle {module}.{name}: not part of the CIFAR format")
        return super().find_class(module, name)


def read_batch(path: Path, label_key: bytes = b"labels") -> dict[bytes, object]:
    """One batch file: a dict with the image rows under b"data" and the labels under ``label_key``."""
    try:
        with open(path, "rb") as f:
            batch = _SafeUnpickler(f, encoding="bytes").load()
    except UserError:
        raise
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # pickle reports damage as EOFError, UnpicklingError, ValueError, ...
        raise UserError(
            f"{path} is not a readable CIFAR batch: it is truncated or corrupted "
            f"({type(exc).__name__}); download the dataset again"
        ) from None
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise UserError(f"{path} is not a CIFAR batch: it has no {label_key.decode()!r} or 'data'")
    return batch


def _default_root(data_dir: Path | None) -> Path:
    return data_dir or Path.home() / ".cache" / "freqbench" / "data"


def _download(name: str, root: Path) -> None:
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    cls(str(root), train=True, download=True)


@lru_cache(maxsize=4)
def load_cifar(name: str, split: str, data_dir: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
    import numpy as np
    import torch

    folder, train_files, test_files, label_key = _LAYOUT[name]
    root = _default_root(data_dir)
    files = [root / folder / f for f in (train_files if split == "train" else test_files)]
    if not all(f.is_file() for f in files):
        try:
            _download(name, root)
        except Exception as exc:
            raise UserError(
                f"{name} not found under {root / folder} and the torchvision download failed "
                f"({type(exc).__name__}: {exc}). Download the official python version, unpack "
                f"it so that {folder}/ sits in a directory, and pass that with --data-dir "
                "(or set $FREQBENCH_DATA)."
            ) from None
    batches = [read_batch(f, label_key) for f in files]
    data = np.concatenate([np.asarray(b[b"data"], dtype=np.uint8) for b in batches])
    labels = np.concatenate([np.asarray(b[label_key], dtype=np.int64) for b in batches])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise UserError(
            f"{root / folder} holds image rows of shape {data.shape} and {len(labels)} labels; "
            f"{name} batches hold one 3072-byte row per label"
        )
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return images, torch.from_numpy(labels)


@register_dataset(CIFAR10)
def load_cifar10(split: str, data_dir: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
    return load_cifar("cifar10", split, data_dir)


@register_dataset(CIFAR100)
def load_cifar100(split: str, data_dir: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
    return load_cifar("cifar100", split, data_dir)
