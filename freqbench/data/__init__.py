"""Datasets by name: float images in [0, 1], NCHW, with labels and metadata."""

# Importing a card's module registers it (with its variants); plugins arrive by entry point.
from freqbench.data import cifar, cifar_c, fashion_mnist, imagenet, synthetic  # noqa: F401
from freqbench.data.base import (
    CorruptionSources,
    DatasetInfo,
    ImageStream,
    LabeledImages,
    base_dataset,
    dataset_source,
    get_dataset_info,
    iterate_batches,
    list_datasets,
    load_dataset,
    make_loader,
    register_card,
    register_dataset,
)
from freqbench.data.cifar_c import load_corruption
from freqbench.data.synthetic import make_synthetic

__all__ = [
    "CorruptionSources",
    "DatasetInfo",
    "ImageStream",
    "LabeledImages",
    "base_dataset",
    "dataset_source",
    "get_dataset_info",
    "iterate_batches",
    "list_datasets",
    "load_corruption",
    "load_dataset",
    "make_loader",
    "make_synthetic",
    "register_card",
    "register_dataset",
]
