"""TRADES (Zhang et al., ICML 2019): CE on clean images + beta * KL(clean || adversarial).

The attack maximises the KL term by PGD (10 steps of eps / 4) from x + 0.001 * N(0, 1),
with the model in eval mode, as in the reference implementation; beta = 6.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from freqbench.errors import UserError
from freqbench.recipes.attacks import AttackConfig, trades_kl_attack
from freqbench.recipes.base import Recipe, RecipeOutput, eval_mode
from freqbench.recipes.losses import trades_loss


@dataclass(frozen=True)
class TradesConfig(AttackConfig):
    """beta trades clean accuracy (small) for robustness (large); 6 is the paper's choice."""

    beta: float = 6.0
    bn_eval_attack: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.beta < 0:
            raise UserError(f"beta must be >= 0, got {self.beta}")


class Trades(Recipe[TradesConfig]):
    name = "trades"
    config_class = TradesConfig
    adversarial = True

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None
    ) -> RecipeOutput:
        cfg = self.config
        with eval_mode(model, cfg.bn_eval_attack):
            x_adv = trades_kl_attack(
                model,
                x,
                eps=self.eps,
                step_size=cfg.step_size,
                steps=cfg.steps,
                generator=generator,
            )
        logits_clean = model(x)
        logits_adv = model(x_adv)
        return RecipeOutput(trades_loss(logits_clean, logits_adv, y, cfg.beta), logits_clean)
