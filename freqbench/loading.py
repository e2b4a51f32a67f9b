"""Turn what a user names on the command line into a model ready for evaluation.

A model reference is a checkpoint path, a model-zoo entry name, ``timm:<name>`` or
``robustbench:<dataset>/<threat_model>/<Name>``. A model trained in BaSS ``dataset`` mode
(Lin et al.'s "-B" paradigm) is wrapped so that it applies BaSS to its own input: every
metric, attacks included, then sees the model as it was meant to be used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from freqbench.architectures import create_model
from freqbench.architectures.external import ROBUSTBENCH_PREFIX, TIMM_PREFIX, parse_robustbench_name
from freqbench.checkpoints import load_checkpoint
from freqbench.data import get_dataset_info
from freqbench.errors import UserError

_ROBUSTBENCH_DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100"}


class BalancedInput(nn.Module):
    """Applies BaSS to every input before the wrapped model (models trained on "-B" data)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from freqbench.spectral import bass

        return self.model(bass(x))


@dataclass
class LoadedModel:
    model: nn.Module
    name: str
    source: str
    dataset: str | None  # what it was trained on, when known
    architecture: str
    recipe: str | None = None
    bass_mode: str | None = None
    sha256: str | None = None
    transform: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def base_dataset(name: str) -> str:
    return name.removesuffix("-b")


def _checkpoint_name(path: Path) -> str:
    return path.parent.name if path.stem == "model" else path.stem


def load_model_ref(ref: str, dataset: str | None, device: str = "cpu") -> LoadedModel:
    """Resolve ``ref``; ``dataset`` (the evaluation dataset) is checked against the model's."""
    if ref.startswith(ROBUSTBENCH_PREFIX):
        rb_dataset = parse_robustbench_name(ref)[0]
        loaded = LoadedModel(
            create_model(ref), ref.removeprefix(ROBUSTBENCH_PREFIX).replace("/", "-"), ref,
            _ROBUSTBENCH_DATASETS.get(rb_dataset, rb_dataset), ref,
        )  # fmt: skip
    elif ref.startswith(TIMM_PREFIX):
        if dataset is None:
            raise UserError(f"{ref} is built for a dataset: pass --dataset")
        info = get_dataset_info(dataset)
        model = create_model(
            ref,
            info.num_classes,
            info.channels,
            image_size=info.image_size[0],
            mean=info.mean,
            std=info.std,
        )
        loaded = LoadedModel(model, ref.removeprefix(TIMM_PREFIX), ref, dataset, ref)
    elif Path(ref).suffix in (".safetensors", ".pt", ".pth") or Path(ref).is_file():
        model, info = load_checkpoint(ref)
        loaded = LoadedModel(
            model, _checkpoint_name(Path(ref)), str(ref), info.dataset, info.architecture,
            info.recipe, info.bass_mode, info.sha256,
        )  # fmt: skip
    else:
        loaded = _load_zoo_entry(ref)
    _check_dataset(loaded, dataset)
    if loaded.bass_mode == "dataset":
        loaded.model = BalancedInput(loaded.model)
    loaded.model = loaded.model.to(device).eval()
    if torch.device(device).type == "cpu":
        # oneDNN runs smallcnn's forward pass about 2x faster on channels-last weights (about
        # 1.0-1.1x for resnet18 and for backward passes); logits agree to float rounding.
        # Measured by benchmarks/bench_layout.py.
        loaded.model = loaded.model.to(memory_format=torch.channels_last)
    return loaded


def _load_zoo_entry(name: str) -> LoadedModel:
    from freqbench.zoo import find_entry

    entry = find_entry(name)
    model, info = entry.load_model()
    return LoadedModel(
        model,
        entry.name,
        str(entry.path),
        entry.dataset,
        entry.architecture,
        entry.recipe,
        entry.bass_mode,
        info.sha256 if info is not None else None,
        entry.transform or None,
        dict(entry.metadata),
    )


def _check_dataset(loaded: LoadedModel, dataset: str | None) -> None:
    if dataset is None or loaded.dataset is None:
        return
    if loaded.bass_mode == "dataset" and dataset.endswith("-b"):
        raise UserError(
            f"{loaded.name} applies BaSS to its inputs itself (trained in BaSS dataset mode): "
            f"evaluate it on {base_dataset(dataset)}, not {dataset}"
        )
    if base_dataset(dataset) != base_dataset(loaded.dataset):
        raise UserError(
            f"{loaded.source} was trained on {loaded.dataset}, not {dataset}: pass --dataset "
            f"{loaded.dataset} or another model"
        )
