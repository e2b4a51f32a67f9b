"""``<recipe>+bass``: any recipe trained with Balanced Spectrum Sampling (Lin et al., NeurIPS 2023).

Two modes, as in the paper:

- ``augment``: each training image goes through BaSS with probability ``p`` (default 0.5)
  before the recipe sees the batch (AugMix instead builds one of its views from it).
- ``dataset``: every train and test image goes through BaSS once (the "-B" datasets). The
  trainer transforms the data; the checkpoint records the mode so the evaluator does too.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from freqbench.bounds import PROBABILITY
from freqbench.errors import UserError
from freqbench.recipes.base import Recipe, RecipeOutput
from freqbench.spectral import BaSS

BASS_MODES = ("augment", "dataset")
DEFAULT_P = 0.5


class BassRecipe:
    """Wraps a recipe; has the same ``loss`` / ``options`` interface the trainer uses."""

    def __init__(self, inner: Recipe, mode: str = "augment", p: float | None = None):
        if mode not in BASS_MODES:
            raise UserError(f"bass_mode must be one of {', '.join(BASS_MODES)}, got '{mode}'")
        if mode == "dataset" and p is not None:
            raise UserError("bass_p applies to bass_mode 'augment' only, not to 'dataset'")
        if p is not None:
            PROBABILITY.check(p, "bass_p")
        self.inner = inner
        self.bass_mode = mode
        self.p = DEFAULT_P if mode == "augment" and p is None else p
        self.soft_targets = inner.soft_targets
        self.eps = inner.eps

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None
    ) -> RecipeOutput:
        if self.bass_mode == "dataset":  # the data were transformed once, up front
            return self.inner.loss(model, x, y, generator)
        transform = BaSS(self.p, generator=generator)
        return self.inner.loss_with_bass(model, x, y, generator, transform)

    def options(self) -> dict[str, Any]:
        return self.inner.options()


TrainingRecipe = Recipe | BassRecipe
