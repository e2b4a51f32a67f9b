"""The training data of a run, held as tensors on the device, and the batch-level options.

Label shuffling and mixup are the training heuristics studied by Wang et al. (CVPR 2020,
"High-frequency component helps explain the generalization of CNNs").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from freqbench.data import load_dataset
from freqbench.data.bass_datasets import BASS_CHUNK
from freqbench.spectral import bass
from freqbench.training.setup import RunSpec


@dataclass
class TrainingData:
    """Training split and the fixed evaluation slice (the first test images), on the device."""

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor


def shuffle_labels(labels: Tensor, fraction: float, seed: int) -> Tensor:
    """Permute exactly round(fraction * N) labels among themselves.

    A seeded random subset of positions is chosen and each takes the label of the next
    position in the subset (a cycle), so every chosen position receives another example's
    label: the noise is a permutation, not a relabelling, and class counts stay the same.
    """
    count = round(fraction * len(labels))
    shuffled = labels.clone()
    if count < 2:
        return shuffled
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(labels), generator=generator)[:count]
    shuffled[chosen] = labels[chosen.roll(-1)]
    return shuffled


def bass_images(images: Tensor) -> Tensor:
    """BaSS on every image, in chunks that bound the FFT buffers' memory."""
    if len(images) == 0:
        return images
    return torch.cat([bass(chunk) for chunk in images.split(BASS_CHUNK)])


def load_training_data(spec: RunSpec) -> TrainingData:
    """The (first ``max_train_examples``) training images and the first ``eval_examples`` test
    images, label-shuffled and BaSS-transformed as the config asks, moved to the device."""
    config = spec.config
    train = load_dataset(config.dataset, "train", data_dir=config.data_dir)
    test = load_dataset(config.dataset, "test", data_dir=config.data_dir)
    n_train = min(config.max_train_examples or len(train), len(train))
    n_test = min(config.eval_examples, len(test))
    train_images, test_images = train.images[:n_train], test.images[:n_test]
    train_labels = shuffle_labels(train.labels[:n_train], config.label_shuffle, config.seed)
    if spec.recipe.bass_mode == "dataset":
        train_images, test_images = bass_images(train_images), bass_images(test_images)
    return TrainingData(
        train_images.to(spec.device),
        train_labels.to(spec.device),
        test_images.to(spec.device),
        test.labels[:n_test].to(spec.device),
    )


def mixup(
    x: Tensor, y: Tensor, num_classes: int, alpha: float, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """Mixup (Zhang et al., ICLR 2018): one lambda ~ Beta(alpha, alpha) per batch.

    Returns the mixed images, the mixed one-hot targets, and the label with the larger
    weight (for the training accuracy). torch has no seeded Beta sampler, so lambda comes
    from a numpy generator seeded by a draw from ``generator``: resumable from its state.
    """
    seed = int(torch.randint(2**62, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    perm = torch.randperm(len(y), generator=generator).to(y.device)
    one_hot = F.one_hot(y, num_classes).to(x.dtype)
    mixed = lam * x + (1 - lam) * x[perm]
    targets = lam * one_hot + (1 - lam) * one_hot[perm]
    return mixed, targets, y if lam >= 0.5 else y[perm]
