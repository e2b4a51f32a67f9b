"""The "-B" datasets of Lin et al. (NeurIPS 2023): every image passed through BaSS once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from freqbench.data.base import get_dataset_info, load_dataset, register_dataset

if TYPE_CHECKING:
    import torch

BASS_CHUNK = 2048  # images per BaSS call: bounds the complex FFT buffers' memory


def balanced_name(base: str) -> str:
    return f"{base}-b"


def _register(base: str) -> None:
    info = get_dataset_info(base)
    name = balanced_name(base)

    def load(split: str, data_dir: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        from freqbench.spectral import bass  # the spectral toolkit needs no dataset at import

        data = load_dataset(base, split, data_dir=data_dir)
        balanced = torch.cat([bass(chunk) for chunk in data.images.split(BASS_CHUNK)])
        return balanced, data.labels

    register_dataset(info.with_name(name, f"{info.name} with Balanced Spectrum Sampling"))(load)


for _base in ("fashion-mnist", "cifar10", "cifar100"):
    _register(_base)
