"""PGD adversarial training (Madry et al., ICLR 2018): cross-entropy on PGD examples.

PGD-10 with step eps / 4 from a uniform random start in the eps ball, Linf or L2 (the run's
threat model). The model stays in training mode while attacking, as in Madry's code;
``bn_eval_attack`` changes that.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from freqbench.recipes.attacks import BALLS, AttackConfig, pgd_cross_entropy
from freqbench.recipes.base import Recipe, RecipeOutput


@dataclass(frozen=True)
class PGDATConfig(AttackConfig):
    """PGD-10, step eps / 4, BatchNorm in training mode during the attack."""


class PGDAT(Recipe[PGDATConfig]):
    name = "pgd-at"
    config_class = PGDATConfig
    balls = BALLS
    adversarial = True

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None
    ) -> RecipeOutput:
        cfg = self.config
        x_adv = pgd_cross_entropy(
            model,
            x,
            y,
            eps=self.eps,
            config=cfg,
            start="uniform",
            generator=generator,
            p=self.ball_p,
        )
        logits = model(x_adv)
        return RecipeOutput(F.cross_entropy(logits, y), logits)
