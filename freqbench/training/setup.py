"""Turn a :class:`TrainConfig` into a checked run: names looked up, defaults filled in.

Every mistake a user can make in a config is found here, before any data is loaded.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch

from freqbench.architectures import describe_architecture
from freqbench.architectures.external import ROBUSTBENCH_PREFIX, TIMM_PREFIX
from freqbench.config import TrainConfig
from freqbench.data import DatasetInfo, get_dataset_info
from freqbench.errors import UserError
from freqbench.recipes import create_recipe
from freqbench.recipes.attacks import BALLS
from freqbench.recipes.bass_training import TrainingRecipe
from freqbench.threat_models import DEFAULT, get_threat_model, threat_models


@dataclass(frozen=True)
class RunSpec:
    """A validated config with everything derived from it."""

    config: TrainConfig
    recipe: TrainingRecipe
    info: DatasetInfo
    eps: float
    device: torch.device
    p: float = math.inf  # the norm ball of the threat model the run attacks in

    def as_dict(self) -> dict[str, Any]:
        """The full resolved config: trainer options, recipe options, eps and BaSS settings."""
        options = {
            f.name: getattr(self.config, f.name)
            for f in dataclasses.fields(self.config)
            if f.metadata.get("option", True)
        }
        options.update(
            eps=self.eps,
            bass_mode=self.recipe.bass_mode,
            bass_p=getattr(self.recipe, "p", None),
            recipe_options=self.recipe.options(),
        )
        return options


def _check_architecture(name: str) -> None:
    if name.startswith(ROBUSTBENCH_PREFIX):
        raise UserError(f"'{name}' is a pretrained RobustBench model: evaluate it, do not train it")
    if not name.startswith(TIMM_PREFIX):
        describe_architecture(name)  # raises UnknownNameError with suggestions


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(
            f"unknown device '{name}': use 'auto', 'cpu' or 'cuda' (or 'cuda:1', ...)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device '{name}' requested but CUDA is not available; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"device '{name}' is not supported: use 'cpu' or 'cuda'")
    return device


def resolve(config: TrainConfig) -> RunSpec:
    """Check ``config`` and derive the run; raises :class:`UserError` for any bad option."""
    info = get_dataset_info(config.dataset)
    _check_architecture(config.architecture)
    card = get_threat_model(config.threat_model or DEFAULT)
    if card.p not in BALLS:
        raise UserError(
            f"training attacks (and its log's PGD-10 evaluates) in a Linf-like or L2 ball; "
            f"threat model {card.name} is not one: pick a threat model among "
            f"{', '.join(c.name for c in threat_models() if c.p in BALLS)}"
        )
    eps = card.eps(info) if config.eps is None else config.eps
    if eps > card.largest_distance(info):
        raise UserError(
            f"eps {eps:g} is larger than any {card.name} distance between two {info.name} "
            f"images in [0, 1] ({card.largest_distance(info):g}); the dataset's is {card.eps(info):g}"
        )
    recipe = create_recipe(
        config.recipe,
        threat_model=card.name,
        eps=eps,
        architecture=config.architecture,
        options=config.recipe_options,
        bass_mode=config.bass_mode,
        bass_p=config.bass_p,
        source=f"{config.source} [recipe_options]",
    )
    if recipe.bass_mode == "dataset" and info.variant_of is not None:
        raise UserError(
            f"dataset '{info.name}' is already BaSS-transformed; with bass_mode 'dataset' use "
            f"'{info.variant_of}' (BaSS would otherwise be applied twice)"
        )
    if config.mixup_alpha > 0 and not recipe.soft_targets:
        raise UserError(f"recipe '{config.recipe}' needs hard labels: mixup cannot be used with it")
    return RunSpec(config, recipe, info, eps, _device(config.device), card.p)
