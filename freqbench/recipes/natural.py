"""Natural training: cross-entropy on clean images (SGD, momentum 0.9, weight decay 5e-4)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from freqbench.recipes.base import Recipe, RecipeConfig, RecipeOutput


@dataclass(frozen=True)
class NaturalConfig(RecipeConfig):
    """No options of its own: optimizer and schedule belong to the trainer."""


class Natural(Recipe[NaturalConfig]):
    name = "natural"
    config_class = NaturalConfig

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None
    ) -> RecipeOutput:
        logits = model(x)
        return RecipeOutput(F.cross_entropy(logits, y), logits)
