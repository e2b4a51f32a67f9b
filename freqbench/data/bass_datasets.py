"""The "-B" datasets of Lin et al. (NeurIPS 2023): every image passed through BaSS once.

A card with ``variants=("bass",)`` registers ``<name>-b`` beside it (:func:`bass_variant`):
the one place the suffix is spelled.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from freqbench.data.base import DatasetInfo, load_dataset

if TYPE_CHECKING:
    import torch

BASS_CHUNK = 2048  # images per BaSS call: bounds the complex FFT buffers' memory
SUFFIX = "-b"


def bass_variant(base: DatasetInfo) -> DatasetInfo:
    """The card of ``base`` with every image balanced, read through :func:`load_balanced`:
    its protocol and eps; its corruptions generated from the balanced images (a release's
    files hold unbalanced ones)."""
    return replace(
        base, name=f"{base.name}{SUFFIX}",
        description=f"{base.name} with Balanced Spectrum Sampling",
        read=partial(load_balanced, base.name), variants=(), variant_of=base.name,
        corruptions=replace(base.corruptions, files={}),
    )  # fmt: skip


def load_balanced(
    base: str, split: str, data_dir: Path | None
) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    from freqbench.spectral import bass  # the spectral toolkit needs no dataset at import

    data = load_dataset(base, split, data_dir=data_dir)
    balanced = torch.cat([bass(chunk) for chunk in data.images.split(BASS_CHUNK)])
    return balanced, data.labels
