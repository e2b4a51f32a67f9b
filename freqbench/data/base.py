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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from freqbench.errors import UserError
from freqbench.registry import Registry, load_object

if TYPE_CHECKING:  # torch is imported on first use: listing datasets must stay fast
    import torch
    from torch.utils.data import DataLoader

SPLITS = ("train", "test")


@dataclass(frozen=True)
class CorruptionSources:
    """Where a dataset's corrupted copies come from (:mod:`freqbench.data.corrupted`).

    ``generated``: how the 15 common corruptions are made from its test images, "cifar"
    (CIFAR-10-C's generator on images held in memory) or "imagenet-c" (ImageNet-C's, from
    streamed image files, as the release was made), None where they cannot be. ``files``:
    per corruption set ("common", "3dcc"), the release a corruptions folder holds: a
    CIFAR-C .npy dataset ("cifar10-c") or an image-folder layout ("imagenet-c",
    "imagenet-3dcc"). ``mce_baseline``: the reference of the common set's mCE ("alexnet"),
    None for no mCE."""

    generated: str | None = "cifar"
    files: Mapping[str, str] = field(default_factory=dict)
    mce_baseline: str | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's card: everything freqbench knows about a dataset by its name.

    What a model, an attack and a recipe need (classes, size, channels, mean/std, eps per
    threat model), how its files are read (``read``: the loader, a callable or
    ``"module:function"``), the counts its standard protocol evaluates, its corruption
    sources and its variants. Registered in-tree with :func:`register_dataset` or by an
    installed package through the entry-point group ``freqbench.datasets``."""

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
    #: ``(split, data_dir) -> (images, labels)``, or for a streamed dataset
    #: ``(split, data_dir, preprocessing) -> ImageStream``; None until registered.
    read: Callable | str | None = None
    splits: tuple[str, ...] = SPLITS  # empty: the loader parses the split itself
    #: The standard protocol's counts by protocol field (``{"autoattack_n_examples": 10000}``);
    #: empty: the dataset has no standard protocol (its records are never "standard").
    standard_counts: Mapping[str, int] = field(default_factory=dict)
    corruptions: CorruptionSources = CorruptionSources()
    #: Variants registered with it, by kind (:data:`VARIANTS`): ``("bass",)`` adds ``<name>-b``.
    variants: tuple[str, ...] = ()
    #: The dataset this one is a variant of (None for a base dataset).
    variant_of: str | None = None

    def eps_for(self, threat_model: str) -> float:
        """The dataset's standard eps under ``threat_model``."""
        if threat_model not in self.eps:
            raise UserError(
                f"{self.name} has no standard eps for threat model '{threat_model}': "
                f"it has one for {', '.join(self.eps)}; pass --eps"
            )
        return self.eps[threat_model]

    @property
    def base(self) -> str:
        """The dataset whose standard protocol and models this one shares: itself, or the
        base of a variant."""
        return self.variant_of or self.name


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

ENTRY_POINT_GROUP = "freqbench.datasets"
#: How each kind of variant is made from a card: ``"module:function"`` ``(card) -> card``.
VARIANTS = {"bass": "freqbench.data.bass_datasets:bass_variant"}


def _with_variants(card: DatasetInfo) -> list[DatasetInfo]:
    """``card`` and the cards of the variants it names."""
    unknown = [kind for kind in card.variants if kind not in VARIANTS]
    if unknown:
        raise ValueError(
            f"dataset {card.name}: unknown variants {unknown}; known: {list(VARIANTS)}"
        )
    return [card, *(load_object(VARIANTS[kind])(card) for kind in card.variants)]


def _adopt(entry_name: str, loaded: object) -> list[tuple[str, DatasetInfo]]:
    """An entry point names a card (a :class:`DatasetInfo` with its ``read``) of its own
    name; its variants come with it."""
    if not isinstance(loaded, DatasetInfo):
        raise TypeError(f"it names a {type(loaded).__name__}, not a freqbench DatasetInfo card")
    if loaded.name != entry_name:
        raise ValueError(f"its card is named '{loaded.name}', not '{entry_name}'")
    return [(card.name, card) for card in _with_variants(loaded)]


def _check(name: str, card: DatasetInfo, others: list[DatasetInfo]) -> list[str]:
    return [] if card.read is not None else ["its card names no reader (read=)"]


DATASETS: Registry[DatasetInfo] = Registry(
    "dataset",
    ENTRY_POINT_GROUP,
    adopt=_adopt,
    check=_check,
    name_form=r"^[a-z0-9][a-z0-9._-]*$",
    name_rule="lowercase letters, digits and . _ -",
)


def register_card(info: DatasetInfo, *, builtin: bool = False) -> DatasetInfo:
    """Register a dataset card and its variants (``builtin``: freqbench's own). Reading the
    registry is left to later: it loads the plugins, which import this package."""
    for card in _with_variants(info):
        DATASETS.register(card.name, card, builtin=builtin)
    return info


def register_dataset(info: DatasetInfo, splits: tuple[str, ...] | None = None):
    """Decorator that registers ``info`` as a built-in with the decorated loader as its
    reader: ``(split, data_dir) -> (images uint8/float, labels)``, or for a streamed dataset
    (``info.default_preprocessing`` set) ``(split, data_dir, preprocessing) -> ImageStream``."""

    def wrap(load: Loader | StreamLoader) -> Loader | StreamLoader:
        card = replace(info, read=load, **({} if splits is None else {"splits": splits}))
        register_card(card, builtin=True)
        return load

    return wrap


def list_datasets(pattern: str | None = None) -> list[str]:
    return DATASETS.names(pattern)


def get_dataset_info(name: str) -> DatasetInfo:
    """The card of dataset ``name`` (close matches suggested for an unknown one)."""
    return DATASETS.get(name)


def dataset_source(name: str) -> str | None:
    """The package (name and version) a plugin dataset came from; None for a built-in."""
    return DATASETS.source(name)


def base_dataset(name: str) -> str:
    """The dataset whose protocol and models ``name`` shares: a variant's base, else itself
    (also for a name no card is registered for, e.g. a record's from an absent plugin)."""
    return DATASETS.get(name).base if name in DATASETS else name


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
    card = get_dataset_info(name)
    if card.splits and split not in card.splits:  # an empty tuple: the loader parses the split
        raise UserError(f"dataset '{name}' has no split '{split}'; choose one of {card.splits}")
    folder = Path(data_dir) if data_dir else default_data_dir()
    if folder is not None:
        check_data_dir(folder, "--data-dir" if data_dir else "$FREQBENCH_DATA")
    chosen = resolve_preprocessing(card, preprocessing)
    read = load_object(card.read) if isinstance(card.read, str) else card.read
    with DATASETS.guard(name):
        loaded = read(split, folder) if chosen is None else read(split, folder, chosen)
    if chosen is not None:
        return loaded if n_examples is None else loaded.first(n_examples)  # files checked here
    images, labels = loaded
    if len(images) != len(labels):
        raise UserError(
            f"the {name} {split} split has {len(images)} images but {len(labels)} labels: its "
            "image and label files do not belong together"
        )
    return LabeledImages(as_float_images(images), labels.long(), card, split).first(n_examples)


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
