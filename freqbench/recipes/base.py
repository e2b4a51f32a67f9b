"""The recipe interface: a config dataclass with the paper's defaults, and batch -> loss.

A recipe knows how one batch becomes a loss, running an inner attack or an augmentation if
its paper does. It never sees loops, schedules, optimizers, devices, logs or checkpoints:
the trainer owns those, so every recipe is trained, resumed and logged the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Self, TypeVar

import torch
from torch import Tensor, nn

Transform = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class RecipeContext:
    """What a recipe's defaults may depend on: the attack budget and the architecture."""

    eps: float
    architecture: str


@dataclass(frozen=True)
class RecipeConfig:
    """Base of every recipe's options; fields hold the paper's defaults (None: derived)."""

    def resolve(self, context: RecipeContext) -> Self:
        """Fill the defaults that depend on eps or the architecture (None fields)."""
        return self

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class RecipeOutput:
    """The loss to minimise, and the logits whose accuracy the trainer reports."""

    loss: Tensor
    logits: Tensor


C = TypeVar("C", bound=RecipeConfig)


class Recipe(ABC, Generic[C]):
    """One training objective. Subclasses set ``name`` and ``config_class`` (and ``summary``
    when registered with :func:`~freqbench.recipes.register_recipe`).

    ``loss`` gets images in [0, 1] and targets that are class indices (N,) or, under mixup,
    class probabilities (N, K); recipes that need hard labels set ``soft_targets = False``.
    All randomness comes from ``generator`` so that a run can be resumed bitwise.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    config_class: ClassVar[type[RecipeConfig]]
    soft_targets: ClassVar[bool] = True
    bass_mode: ClassVar[str | None] = None  # BassRecipe, the +bass wrapper, has a mode
    adversarial: ClassVar[bool] = False  # trains on adversarial examples (a plugin says so)
    #: The p of the norm balls its attack supports (math.inf: Linf); ``ball_p`` is the run's
    #: (not to be confused with a +bass recipe's ``p``, the probability of BaSS).
    balls: ClassVar[tuple[float, ...]] = (math.inf,)
    ball_p: float = math.inf

    def __init__(self, config: C, eps: float):
        self.config = config
        self.eps = eps

    @abstractmethod
    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None
    ) -> RecipeOutput:
        """The training loss of one batch (``generator`` is a torch.Generator on x's device)."""

    def loss_with_bass(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        generator: torch.Generator | None,
        bass: Transform,
    ) -> RecipeOutput:
        """The loss when BaSS augments the batch; by default BaSS simply precedes the recipe."""
        return self.loss(model, bass(x), y, generator)

    def options(self) -> dict[str, Any]:
        return self.config.as_dict()


@contextlib.contextmanager
def eval_mode(model: nn.Module, enabled: bool) -> Iterator[None]:
    """Put ``model`` in eval mode (BatchNorm uses running statistics) while an attack runs."""
    was_training = model.training
    if enabled:
        model.eval()
    try:
        yield
    finally:
        model.train(was_training)
