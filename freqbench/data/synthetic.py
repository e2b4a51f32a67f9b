"""A deterministic tiny dataset with learnable structure, for tests and smoke runs.

Each class owns a fixed random template mixing a smooth (low-frequency) blob and an
oriented grating (high frequency); an image is its class template plus noise and a random
contrast. A small CNN learns it in a few steps, and frequency metrics have something to see.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from freqbench.data.base import DatasetInfo, LabeledImages, register_dataset

if TYPE_CHECKING:
    import torch

SYNTHETIC = DatasetInfo(
    name="synthetic",
    num_classes=10,
    channels=3,
    image_size=(32, 32),
    mean=(0.5, 0.5, 0.5),
    std=(0.25, 0.25, 0.25),
    eps={"Linf": 8 / 255, "L2": 0.5, "L1": 12.0},
    description="deterministic class templates plus noise (any size, channels, classes)",
    test_size=256,
)
_SIZES = {"train": 1024, "test": SYNTHETIC.test_size}


def _templates(num_classes: int, channels: int, size: int, seed: int) -> torch.Tensor:
    import torch

    g = torch.Generator().manual_seed(seed)
    coords = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    templates = []
    for _ in range(num_classes):
        centre = torch.rand(2, generator=g) * 1.2 - 0.6
        blob = torch.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / 0.3)
        angle, freq = torch.rand(2, generator=g) * torch.tensor([math.pi, 6.0]) + torch.tensor(
            [0, 3.0]
        )
        grating = torch.cos(freq * math.pi * (xx * torch.cos(angle) + yy * torch.sin(angle)))
        colour = torch.rand(channels, 1, 1, generator=g) * 0.6 + 0.4
        templates.append(colour * (0.6 * blob + 0.25 * grating))
    return torch.stack(templates)


def make_synthetic(
    n: int,
    size: int = 32,
    channels: int = 3,
    num_classes: int = 10,
    seed: int = 0,
    split: str = "test",
) -> LabeledImages:
    """``n`` images of ``channels x size x size``; labels cycle through the classes."""
    import torch

    templates = _templates(num_classes, channels, size, seed=1234)
    g = torch.Generator().manual_seed(seed * 2 + (split == "train"))
    labels = torch.arange(n) % num_classes
    labels = labels[torch.randperm(n, generator=g)]
    contrast = torch.rand(n, 1, 1, 1, generator=g) * 0.5 + 0.5
    noise = torch.randn(n, channels, size, size, generator=g) * 0.08
    images = (0.5 + 0.5 * contrast * templates[labels] + noise).clamp(0, 1)
    info = SYNTHETIC
    if (size, channels, num_classes) != (32, 3, 10):
        info = replace(
            SYNTHETIC, num_classes=num_classes, channels=channels, image_size=(size, size),
            mean=(0.5,) * channels, std=(0.25,) * channels, test_size=None,
        )  # fmt: skip
    return LabeledImages(images.float(), labels, info, split)


@register_dataset(SYNTHETIC)
def load_synthetic(split: str, data_dir: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
    data = make_synthetic(_SIZES[split], split=split)
    return data.images, data.labels
