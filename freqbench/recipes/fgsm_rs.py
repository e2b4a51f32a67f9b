"""FGSM with random start (Wong, Rice and Kolter, ICLR 2020, "Fast is better than free").

A uniform start in the eps ball, one signed-gradient step of alpha = 1.25 eps, projection
onto the eps ball and [0, 1], then cross-entropy on the result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Self

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from freqbench.errors import UserError
from freqbench.recipes.attacks import fgsm_rs
from freqbench.recipes.base import Recipe, RecipeConfig, RecipeContext, RecipeOutput, eval_mode

ALPHA_OVER_EPS = 1.25


@dataclass(frozen=True)
class FGSMRSConfig(RecipeConfig):
    alpha: float | None = None  # None: 1.25 eps
    bn_eval_attack: bool = False

    def __post_init__(self) -> None:
        if self.alpha is not None and self.alpha <= 0:
            raise UserError(f"alpha must be > 0, got {self.alpha}")

    def resolve(self, context: RecipeContext) -> Self:
        if self.alpha is not None:
            return self
        return dataclasses.replace(self, alpha=ALPHA_OVER_EPS * context.eps)


class FGSMRS(Recipe[FGSMRSConfig]):
    name = "fgsm-rs"
    config_class = FGSMRSConfig
    adversarial = True

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None
    ) -> RecipeOutput:
        with eval_mode(model, self.config.bn_eval_attack):
            x_adv = fgsm_rs(model, x, y, eps=self.eps, alpha=self.config.alpha, generator=generator)
        logits = model(x_adv)
        return RecipeOutput(F.cross_entropy(logits, y), logits)
