"""Dataset registry: every dataset is a name that yields float images in [0, 1], NCHW, with labels.

Small datasets (Fashion-MNIST, CIFAR) are held as tensors in memory (:class:`LabeledImages`);
image-file datasets (ImageNet) are streamed batch by batch through a model's preprocessing
(:class:`ImageStream`, decoded by :mod:`freqbench.data.stream`). Both offer the same reading interface: ``len``,
``labels``, ``info``, ``first(n)``, ``batches(batch_size)``, ``take(start, stop)`` and
``image_shape``. Declaring a dataset imports no torch; its loader does, when it runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from freqbench.errors import UserError
from freqbench.registry import Registry

if TYPE_CHECKING:  # torch is imported on first use: listing datasets must stay fast
    import torch
    from torch.utils.data import DataLoader

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """What a model, an attack and a recipe need to know about a dataset."""

    name: str
    num_classes: int
    channels: int
    image_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: The standard radius of each attack threat model on this dataset, keyed by its name.
    eps: Mapping[str, float]
    class_names: tuple[str, ...] = ()
    description: str = ""
    test_size: int | None = None  # images in the test split, when it is fixed
    # Streamed from image files through a model's preprocessing (named by the protocol's
    # ``preprocessing`` field); this is the one used when neither the model nor the user names one.
    default_preprocessing: str | None = None

    def eps_for(self, threat_model: str) -> float:
        """The dataset's standard eps under ``threat_model``."""
        if threat_model not in self.eps:
            raise UserError(
                f"{self.name} has no standard eps for threat model '{threat_model}': "
                f"it has one for {', '.join(self.eps)}; pass --eps"
            )
        return self.eps[threat_model]

    def with_name(self, name: str, description: str) -> DatasetInfo:
        return replace(self, name=name, description=description)


@dataclass
class LabeledImages:
    """A split held in memory: images (N, C, H, W) float32 in [0, 1] and labels (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor
    info: DatasetInfo
    split: str = "test"

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or len(self.images) != len(self.labels):
            raise ValueError(
                f"images must be (N, C, H, W) with one label each, got {tuple(self.images.shape)} "
                f"and {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def first(self, n: int | None) -> LabeledImages:
        """The first ``n`` examples, unshuffled, as RobustBench selects its evaluation points."""
        if n is None:
            return self
        check_first(n, len(self), self.info.name, self.split)
        return replace(self, images=self.images[:n], labels=self.labels[:n])

    def batches(
        self, batch_size: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Images ``start:stop`` in order, ``batch_size`` at a time (views, no copies)."""
        stop = len(self) if stop is None else min(stop, len(self))
        for first in range(start, stop, batch_size):
            last = min(first + batch_size, stop)
            yield self.images[first:last], self.labels[first:last]

    def take(self, start: int, stop: int) -> LabeledImages:
        """Images ``start:stop`` (a view)."""
        return replace(self, images=self.images[start:stop], labels=self.labels[start:stop])


def check_first(n: int, size: int, name: str, split: str) -> None:
    if not 0 < n <= size:
        raise UserError(
            f"n_examples={n} is out of range: the {name} {split} split has {size} images; "
            f"pass a number from 1 to {size}"
        )


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
        return (self.info.channels, *input_size(self.info, self.preprocessing))

    def first(self, n: int | None) -> ImageStream:
        """The first ``n`` images (all with None), whose files must all be there, as regular
        files (or links to them)."""
        if n is not None:
            check_first(n, len(self), self.info.name, self.split)
        from freqbench.data.stream import not_a_file

        part = self if n is None else replace(self, files=self.files[:n], labels=self.labels[:n])
        found = [(path, not_a_file(path)) for path in part.files]
        missing = [path for path, what in found if what == "missing"]
        if missing:
            here = next(i for i, (_, what) in enumerate(found) if what == "missing")
            subset = (
                f"; --n-examples N evaluates the first N images of the list, of which the "
                f"first {here} are here (--n-examples {here})"
                if here
                else ""
            )
            raise UserError(
                f"{len(missing)} of the {len(part)} {self.info.name} images evaluated are "
                f"missing, the first {missing[0]}: {self.missing_hint}{subset}"
            )
        for path, what in found:
            if what is not None:  # never opened: a FIFO would block, a device never end
                raise UserError(f"{path} is {what}, not an image file: replace it with the image")
        return part

    def batches(
        self, batch_size: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Images ``start:stop`` in order, ``batch_size`` at a time, decoded by worker processes."""
        from freqbench.data.stream import decoded_batches

        stop = len(self) if stop is None else min(stop, len(self))
        labels = self.labels[start:stop].tolist()
        yield from decoded_batches(self.files[start:stop], labels, self.preprocessing, batch_size)

    def content_sha256(self, start: int = 0, stop: int | None = None) -> str:
        """SHA-256 of the names (``<folder>/<file>``) and bytes of files ``start:stop``, in
        order: what a set made from them (a corruption cache entry) depends on, whatever the
        root folder."""
        import hashlib

        digest = hashlib.sha256()
        for path in self.files[start:stop]:
            digest.update(f"{path.parent.name}/{path.name}\n".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()

    def take(self, start: int, stop: int) -> LabeledImages:
        """Images ``start:stop`` decoded into memory: for a part a metric needs whole."""
        import torch

        parts = list(self.batches(max(1, min(stop - start, 256)), start, stop))
        images = torch.cat([x for x, _ in parts]) if parts else torch.empty(0, *self.image_shape)
        return LabeledImages(images, self.labels[start:stop], self.info, self.split)


Loader = Callable[[str, Path | None], "tuple[torch.Tensor, torch.Tensor]"]
#: ``(split, data_dir, preprocessing) -> ImageStream`` for a dataset read from image files.
StreamLoader = Callable[[str, Path | None, str], "ImageStream"]


@dataclass(frozen=True)
class DatasetSpec:
    info: DatasetInfo
    load: Loader | StreamLoader
    splits: tuple[str, ...] = SPLITS


_DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(info: DatasetInfo, splits: tuple[str, ...] = SPLITS):
    """Decorator for a loader ``(split, data_dir) -> (images uint8/float, labels)``."""

    def wrap(load: Loader) -> Loader:
        _DATASETS.register(info.name, DatasetSpec(info, load, splits))
        return load

    return wrap


def register_stream(info: DatasetInfo, splits: tuple[str, ...] = ("test",)):
    """Decorator for a loader of an image-file dataset: ``(split, data_dir, preprocessing) ->
    ImageStream``; ``info.default_preprocessing`` must be set."""
    if info.default_preprocessing is None:
        raise ValueError(f"dataset {info.name}: a streamed dataset needs default_preprocessing")

    def wrap(load: StreamLoader) -> StreamLoader:
        _DATASETS.register(info.name, DatasetSpec(info, load, splits))
        return load

    return wrap


def list_datasets(pattern: str | None = None) -> list[str]:
    return _DATASETS.names(pattern)


def get_dataset_info(name: str) -> DatasetInfo:
    return _DATASETS.get(name).info


def default_data_dir() -> Path | None:
    """``$FREQBENCH_DATA`` when set; the loaders then try their system locations."""
    env = os.environ.get("FREQBENCH_DATA")
    return Path(env) if env else None


def load_dataset(
    name: str,
    split: str = "test",
    n_examples: int | None = None,
    data_dir: str | Path | None = None,
    preprocessing: str | None = None,
) -> LabeledImages | ImageStream:
    """Load a split of a registered dataset as float32 images in [0, 1] (NCHW) and int64 labels:
    in memory, or streamed through ``preprocessing`` (the dataset's default when None) for an
    image-file dataset."""
    spec = _DATASETS.get(name)
    if spec.splits and split not in spec.splits:  # an empty tuple: the loader parses the split
        raise UserError(f"dataset '{name}' has no split '{split}'; choose one of {spec.splits}")
    folder = Path(data_dir) if data_dir else default_data_dir()
    if folder is not None:
        check_data_dir(folder, "--data-dir" if data_dir else "$FREQBENCH_DATA")
    chosen = resolve_preprocessing(spec.info, preprocessing)
    if chosen is not None:
        stream = spec.load(split, folder, chosen)  # its files are checked when taken: first(n)
        return stream if n_examples is None else stream.first(n_examples)
    images, labels = spec.load(split, folder)
    if len(images) != len(labels):
        raise UserError(
            f"the {name} {split} split has {len(images)} images but {len(labels)} labels: its "
            "image and label files do not belong together"
        )
    return LabeledImages(as_float_images(images), labels.long(), spec.info, split).first(n_examples)


def resolve_preprocessing(
    info: DatasetInfo, chosen: str | None, mean: Sequence[float] | None = None
) -> str | None:
    """The preprocessing a split of ``info`` is read with: ``chosen`` (canonical spelling) or
    the dataset's default for an image-file dataset; None for a dataset held as tensors, which
    takes none. ``mean``: the model's input mean, the colour a timm border crop pads with."""
    if info.default_preprocessing is None:
        if chosen is not None:
            raise UserError(
                f"--preprocessing applies to datasets read from image files (ImageNet); "
                f"{info.name} is used as its files hold it: leave it out"
            )
        return None
    from freqbench.data.preprocessing import check_preprocessing

    return check_preprocessing(chosen or info.default_preprocessing, mean)


def input_size(info: DatasetInfo, preprocessing: str | None) -> tuple[int, int]:
    """The (H, W) of the images a model receives: the preprocessing's output for an image-file
    dataset, else the dataset's own size."""
    if preprocessing is None:
        return info.image_size
    from freqbench.data.preprocessing import output_size

    side = output_size(preprocessing)
    return (side, side)


def check_data_dir(folder: Path, source: str) -> None:
    """A data folder the user named must exist: never fall back to other data silently."""
    if not folder.exists():
        raise UserError(
            f"{source} {folder} does not exist: pass the folder that holds the dataset files "
            "(or leave it out to use the default locations)"
        )
    if not folder.is_dir():
        raise UserError(f"{source} {folder} is a file, not a folder: pass the folder that holds it")


def as_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW pixels -> float32 NCHW in [0, 1]; float input passes through unchanged.

    Loaders return NCHW (channels first) already; this only rescales.
    """
    import torch

    if images.dtype == torch.uint8:
        images = images.float().div_(255)
    return images.contiguous()


def make_loader(
    data: LabeledImages, batch_size: int, shuffle: bool = False, seed: int = 0, **kwargs
) -> DataLoader:
    """A DataLoader over an in-memory split; shuffling is reproducible through ``seed``."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        TensorDataset(data.images, data.labels),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        **kwargs,
    )


def iterate_batches(
    images: torch.Tensor, labels: torch.Tensor, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive batches without a DataLoader's per-item overhead (evaluation loops)."""
    for start in range(0, len(labels), batch_size):
        yield images[start : start + batch_size], labels[start : start + batch_size]
