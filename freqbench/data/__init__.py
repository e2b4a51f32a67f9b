"""Datasets by name: float images in [0, 1], NCHW, with labels and metadata."""

# Importing a loader module registers it; the BaSS variants wrap the bases, so they come last.
from freqbench.data import cifar, cifar_c, fashion_mnist, imagenet, synthetic  # noqa: I001, F401
from freqbench.data import balanced  # noqa: F401
from freqbench.data.base import (
    DatasetInfo,
    ImageStream,
    LabeledImages,
    get_dataset_info,
    iterate_batches,
    list_datasets,
    load_dataset,
    make_loader,
    register_dataset,
)
from freqbench.data.cifar_c import load_corruption
from freqbench.data.synthetic import make_synthetic

__all__ = [
    "DatasetInfo",
    "ImageStream",
    "LabeledImages",
    "get_dataset_info",
    "iterate_batches",
    "list_datasets",
    "load_corruption",
    "load_dataset",
    "make_loader",
    "make_synthetic",
    "register_dataset",
]
