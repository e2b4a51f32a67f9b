"""CIFAR-10-C / CIFAR-100-C (Hendrycks and Dietterich, ICLR 2019) in the official layout.

``<dir>/<corruption>.npy`` holds 5 x 10000 uint8 images (N, 32, 32, 3), severities 1..5 in
order, and ``<dir>/labels.npy`` the matching labels: the 10,000 test labels, in the test
set's order, once per severity (``make_cifar_c.py`` appends each test image's label as it
corrupts it, severity by severity). Files are memory-mapped, so asking for one severity reads
only that slice. The labels are checked before use: integers of the dataset's classes, the
same 10,000 for every severity, and equal to the clean test labels when those are given.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from freqbench.data.base import (
    CorruptionSources,
    DatasetInfo,
    LabeledImages,
    as_float_images,
    register_dataset,
)
from freqbench.data.cifar import CIFAR10, CIFAR100
from freqbench.errors import UnknownNameError, UserError

if TYPE_CHECKING:
    import numpy as np
    import torch

PER_SEVERITY = 10000
_FOLDERS = {"cifar10-c": "CIFAR-10-C", "cifar100-c": "CIFAR-100-C"}


def _release(base: DatasetInfo, name: str, description: str) -> DatasetInfo:
    """The card of a release's files: its base's classes and sizes, no protocol or variants."""
    return replace(
        base, name=name, description=description, standard_counts={}, variants=(),
        corruptions=CorruptionSources(None),
    )  # fmt: skip


_INFOS = {
    "cifar10-c": _release(CIFAR10, "cifar10-c", "CIFAR-10 test set under 19 corruptions x 5"),
    "cifar100-c": _release(CIFAR100, "cifar100-c", "CIFAR-100 test set under 19 corruptions x 5"),
}


def corruption_dir(name: str, directory: Path | None) -> Path:
    """The folder with the .npy files: ``directory`` itself or its official subfolder."""
    if directory is None:
        raise UserError(
            f"{name} needs the official .npy files: pass their folder with --corruptions-dir "
            f"(or --data-dir holding {_FOLDERS[name]}/); download from Zenodo "
            "(record 2535967 for CIFAR-10-C, 3555552 for CIFAR-100-C)."
        )
    for candidate in (directory, directory / _FOLDERS[name]):
        if (candidate / "labels.npy").is_file():
            return candidate
    raise UserError(
        f"no labels.npy in {directory} or {directory / _FOLDERS[name]}: not a {name} folder"
    )


def available_corruptions(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.npy") if p.stem != "labels")


def _open(path: Path, n_expected: int) -> np.ndarray:
    import numpy as np

    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(
            f"{path} is not a readable .npy file: it is truncated or corrupted ({exc}); "
            "download it again"
        ) from None
    if len(array) != n_expected:
        raise UserError(f"{path} holds {len(array)} entries, expected {n_expected} (5 severities)")
    return array


def load_corruption(
    name: str,
    corruption: str,
    severity: int,
    directory: Path | None,
    n_examples: int | None = None,
    test_labels: torch.Tensor | None = None,
) -> LabeledImages:
    """One corruption at one severity (1..5), the first ``n_examples`` images. With
    ``test_labels`` (the clean test set's first labels, the images these corrupt) the file's
    labels must equal them."""
    import numpy as np

    if name not in _FOLDERS:
        raise UnknownNameError("dataset", name, _FOLDERS)
    folder = corruption_dir(name, directory)
    if not 1 <= severity <= 5:
        raise UserError(f"severity must be 1..5, got {severity}")
    path = folder / f"{corruption}.npy"
    if not path.is_file():
        raise UnknownNameError("corruption", corruption, available_corruptions(folder))
    labels = _labels(folder / "labels.npy", _INFOS[name].num_classes, test_labels)
    images = _open(path, 5 * PER_SEVERITY)
    if images.shape[1:] != (32, 32, 3) or images.dtype != np.uint8:
        raise UserError(
            f"{path} has shape {images.shape[1:]} / {images.dtype}, expected (32, 32, 3) uint8"
        )
    import torch

    start = (severity - 1) * PER_SEVERITY
    count = n_examples or PER_SEVERITY
    pixels = torch.from_numpy(np.array(images[start : start + count])).permute(0, 3, 1, 2)
    targets = torch.from_numpy(labels[:count].astype(np.int64))
    return LabeledImages(
        as_float_images(pixels), targets, _INFOS[name], split=f"{corruption}:{severity}"
    )


def _labels(path: Path, num_classes: int, test_labels: torch.Tensor | None) -> np.ndarray:
    """The 10,000 labels of ``path``, checked as the module docstring says: a file that is
    not the release's (shuffled, out of range, float) would score every model wrongly."""
    import numpy as np

    labels = _open(path, 5 * PER_SEVERITY)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise UserError(
            f"{path} holds {labels.dtype} values of shape {labels.shape}, expected "
            f"{5 * PER_SEVERITY} integer class labels: it is not the release's labels.npy; download it again"
        )
    per_severity = np.asarray(labels).reshape(5, PER_SEVERITY)
    low, high = int(per_severity.min()), int(per_severity.max())
    if low < 0 or high >= num_classes:
        raise UserError(
            f"{path} holds labels from {low} to {high}, outside the {num_classes} classes "
            f"0..{num_classes - 1}: it is not the release's labels.npy; download it again"
        )
    if not (per_severity == per_severity[0]).all():
        raise UserError(
            f"{path} does not hold the same {PER_SEVERITY} labels for each of the 5 severities "
            "(the release repeats the test labels once per severity): it is shuffled or not "
            "the release's labels.npy; download it again"
        )
    if test_labels is not None:
        expected = test_labels.cpu().numpy()
        differ = np.flatnonzero(per_severity[0, : len(expected)] != expected)
        if differ.size:
            i = int(differ[0])
            raise UserError(
                f"{path} does not pair with the clean test images: {differ.size} of the first "
                f"{len(expected)} labels differ from the test set's (the first, image {i}: "
                f"{per_severity[0, i]} against {expected[i]}); it is shuffled or not the "
                "release's labels.npy; download it again"
            )
    return per_severity[0]


def _register(name: str) -> None:
    def load(split: str, data_dir: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
        corruption, _, severity = split.partition(":")
        if not severity.isdigit():
            raise UserError(
                f"{name} splits are '<corruption>:<severity>', e.g. 'fog:3'; got '{split}'"
            )
        data = load_corruption(name, corruption, int(severity), data_dir)
        return data.images, data.labels

    register_dataset(_INFOS[name], splits=())(load)


for _name in _FOLDERS:
    _register(_name)
