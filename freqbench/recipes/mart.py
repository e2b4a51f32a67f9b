"""MART (Wang et al., ICLR 2020): misclassification-aware adversarial training.

Boosted cross-entropy on the adversarial example plus beta * KL(clean || adv) weighted by
1 - p_y(clean), so misclassified examples count more. The attack is PGD-10 on the
cross-entropy from x + 0.001 * N(0, 1) with the model in eval mode, as in the reference
code; beta = 6, and 5 for ResNet-18 (the paper's setting for it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Self

import torch
from torch import Tensor, nn

from freqbench.errors import UserError
from freqbench.recipes.attacks import AttackConfig, pgd_cross_entropy
from freqbench.recipes.base import Recipe, RecipeContext, RecipeOutput
from freqbench.recipes.losses import mart_loss

RESNET18_BETA = 5.0
DEFAULT_BETA = 6.0


@dataclass(frozen=True)
class MartConfig(AttackConfig):
    beta: float | None = None  # None: 5 for resnet18, else 6
    bn_eval_attack: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.beta is not None and self.beta < 0:
            raise UserError(f"beta must be >= 0, got {self.beta}")

    def resolve(self, context: RecipeContext) -> Self:
        resolved = super().resolve(context)
        if resolved.beta is not None:
            return resolved
        beta = RESNET18_BETA if context.architecture == "resnet18" else DEFAULT_BETA
        return dataclasses.replace(resolved, beta=beta)


class Mart(Recipe[MartConfig]):
    name = "mart"
    config_class = MartConfig
    adversarial = True
    soft_targets = False  # the boosted CE and the weight 1 - p_y need one true class

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None
    ) -> RecipeOutput:
        cfg = self.config
        x_adv = pgd_cross_entropy(
            model, x, y, eps=self.eps, config=cfg, start="normal", generator=generator
        )
        logits_clean = model(x)
        logits_adv = model(x_adv)
        return RecipeOutput(mart_loss(logits_clean, logits_adv, y, cfg.beta), logits_adv)
