"""Adversarial logit pairing (Kannan, Kurakin and Goodfellow, 2018): a freqbench recipe plugin.

Mixed-minibatch adversarial training, half the loss on the clean batch and half on its PGD
examples, plus a pairing term that pulls the logits of each clean image and its adversarial
example together: ``0.5 CE(f(x), y) + 0.5 CE(f(x'), y) + pairing * mean ||f(x) - f(x')||^2``.
The paper pairs logits with a squared L2 distance and tunes the weight per dataset; 0.5 is
this package's default (``recipe_options = {pairing = ...}`` to change it). The attack is
freqbench's PGD on the cross-entropy (10 steps of eps / 4 from a uniform start, as its
PGD-AT), so the two recipes differ only in the loss.

freqbench registers it as ``alp`` and, for free, ``alp+bass`` (Balanced Spectrum Sampling
before the recipe sees the batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from freqbench.errors import UserError
from freqbench.recipes.attacks import AttackConfig, pgd_cross_entropy
from freqbench.recipes.base import Recipe, RecipeOutput


@dataclass(frozen=True)
class ALPConfig(AttackConfig):
    """PGD-10, step eps / 4, and the weight of the logit-pairing term."""

    pairing: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.pairing >= 0:
            raise UserError(f"pairing must be >= 0, got {self.pairing}")


class ALP(Recipe[ALPConfig]):
    name = "alp"
    summary = "adversarial logit pairing (Kannan et al. 2018): mixed CE + 0.5 ||f(x) - f(x')||^2"
    config_class = ALPConfig
    soft_targets = False  # PGD on the cross-entropy of one true class
    adversarial = True

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None
    ) -> RecipeOutput:
        cfg = self.config
        x_adv = pgd_cross_entropy(
            model, x, y, eps=self.eps, config=cfg, start="uniform", generator=generator
        )
        clean, adversarial = model(x), model(x_adv)
        mixed = 0.5 * F.cross_entropy(clean, y) + 0.5 * F.cross_entropy(adversarial, y)
        pairing = (clean - adversarial).pow(2).sum(1).mean()
        return RecipeOutput(mixed + cfg.pairing * pairing, adversarial)
