"""Inner attacks of the adversarial-training recipes, on [0, 1] pixels, in the ball of the
run's threat model (its card's ``p``: math.inf or 2).

- :func:`pgd`: projected gradient ascent (Madry et al., ICLR 2018) in the ball of norm ``p``:
  :func:`pgd_linf` (sign steps, the box of side 2 eps) or :func:`pgd_l2` (steps along the
  normalised gradient, projection onto the L2 ball, then onto [0, 1]); with the random
  starts of Madry (uniform in the eps ball), TRADES and MART (0.001 * N(0, 1)).
- :func:`trades_kl_attack`: PGD on KL(p_clean || p_adv), as in TRADES (Zhang et al., 2019).
- :func:`fgsm_rs`: one FGSM step from a uniform random start (Wong et al., ICLR 2020).

Gradients are taken with respect to the input only (``torch.autograd.grad``), so an attack
never leaves gradients on the model's parameters and skips computing weight gradients.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Self

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from freqbench.errors import UserError
from freqbench.recipes.base import RecipeConfig, RecipeContext, eval_mode

Start = Literal["uniform", "normal", "none"]
Objective = Callable[[Tensor], Tensor]  # logits -> scalar to maximise

NORMAL_START_STD = 0.001  # TRADES' and MART's start: x + 0.001 * N(0, 1)
#: The p of the balls :func:`pgd` attacks in.
BALLS = (math.inf, 2.0)


def _start(x: Tensor, eps: float, start: Start, generator: torch.Generator | None) -> Tensor:
    if start == "uniform":
        noise = torch.empty_like(x).uniform_(-eps, eps, generator=generator)
    elif start == "normal":
        noise = NORMAL_START_STD * torch.randn(
            x.shape, generator=generator, device=x.device, dtype=x.dtype
        )
    else:
        return x.clone()
    return x + noise


def pgd_linf(
    model: nn.Module,
    x: Tensor,
    objective: Objective,
    *,
    eps: float,
    step_size: float,
    steps: int,
    start: Start = "uniform",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Maximise ``objective(model(x_adv))`` over the Linf ball of radius eps intersected with [0, 1].

    Each step moves by ``step_size * sign(grad)`` and projects back. The result is detached.
    """
    low = (x - eps).clamp_(min=0.0)
    high = (x + eps).clamp_(max=1.0)
    x_adv = torch.clamp(_start(x.detach(), eps, start, generator), low, high)
    with torch.enable_grad():
        for _ in range(steps):
            x_adv.requires_grad_(True)
            (grad,) = torch.autograd.grad(objective(model(x_adv)), x_adv)
            x_adv = torch.clamp(x_adv.detach() + step_size * grad.sign(), low, high)
    return x_adv.detach()


def _onto_l2_ball(x: Tensor, x_adv: Tensor, eps: float) -> Tensor:
    """``x_adv`` moved onto the L2 ball of radius eps around x (along x_adv - x), then into
    [0, 1] (which, x being in [0, 1], never moves it further from x)."""
    delta = x_adv - x
    norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (x.ndim - 1))
    return (x + delta * torch.clamp(eps / norms, max=1.0)).clamp(0.0, 1.0)


def _l2_start(x: Tensor, eps: float, start: Start, generator: torch.Generator | None) -> Tensor:
    if start != "uniform":
        return _start(x, eps, start, generator)
    # uniform in the ball: a normal direction, radius eps * U^(1/d)
    direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    direction /= direction.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (x.ndim - 1))
    u = torch.rand(len(x), generator=generator, device=x.device, dtype=x.dtype)
    radius = eps * u ** (1.0 / x[0].numel())
    return x + direction * radius.view(-1, *[1] * (x.ndim - 1))


def pgd_l2(
    model: nn.Module,
    x: Tensor,
    objective: Objective,
    *,
    eps: float,
    step_size: float,
    steps: int,
    start: Start = "uniform",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Maximise ``objective(model(x_adv))`` over the L2 ball of radius eps intersected with [0, 1].

    Each step moves by ``step_size`` along the gradient divided by its L2 norm (per image),
    then projects onto the ball and clips to [0, 1]. The result is detached.
    """
    x = x.detach()
    x_adv = _onto_l2_ball(x, _l2_start(x, eps, start, generator), eps)
    with torch.enable_grad():
        for _ in range(steps):
            x_adv.requires_grad_(True)
            (grad,) = torch.autograd.grad(objective(model(x_adv)), x_adv)
            norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (x.ndim - 1))
            x_adv = _onto_l2_ball(x, x_adv.detach() + step_size * grad / norms, eps)
    return x_adv.detach()


def pgd(
    model: nn.Module,
    x: Tensor,
    objective: Objective,
    *,
    p: float,
    eps: float,
    step_size: float,
    steps: int,
    start: Start = "uniform",
    generator: torch.Generator | None = None,
) -> Tensor:
    """PGD in the ball of norm ``p`` (one of :data:`BALLS`)."""
    attack = pgd_linf if math.isinf(p) else pgd_l2 if p == 2 else None
    if attack is None:
        raise UserError(f"PGD attacks in the balls of p in {BALLS}, not p = {p}")
    return attack(
        model, x, objective, eps=eps, step_size=step_size, steps=steps, start=start,
        generator=generator,
    )  # fmt: skip


def cross_entropy_objective(y: Tensor) -> Objective:
    """Summed cross-entropy: the sign of its gradient is that of the per-example losses."""
    return lambda logits: F.cross_entropy(logits, y, reduction="sum")


def trades_kl_attack(
    model: nn.Module,
    x: Tensor,
    *,
    eps: float,
    step_size: float,
    steps: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """TRADES' inner maximisation of KL(p(x) || p(x_adv)) from x + 0.001 * N(0, 1)."""
    with torch.no_grad():
        log_p_clean = F.log_softmax(model(x), dim=1)

    def objective(logits: Tensor) -> Tensor:
        log_p_adv = F.log_softmax(logits, dim=1)
        return F.kl_div(log_p_adv, log_p_clean, reduction="sum", log_target=True)

    return pgd_linf(
        model,
        x,
        objective,
        eps=eps,
        step_size=step_size,
        steps=steps,
        start="normal",
        generator=generator,
    )


def fgsm_rs(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    alpha: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Wong et al.'s "fast is better than free" FGSM: uniform start, one step of ``alpha``.

    The step is projected onto the eps ball around x and onto [0, 1], as in their code.
    """
    return pgd_linf(
        model,
        x,
        cross_entropy_objective(y),
        eps=eps,
        step_size=alpha,
        steps=1,
        start="uniform",
        generator=generator,
    )


@dataclass(frozen=True)
class AttackConfig(RecipeConfig):
    """Options shared by the PGD-based recipes: PGD-10 with step eps / 4 by default."""

    steps: int = 10
    step_size: float | None = None  # None: eps / 4
    bn_eval_attack: bool = False  # BatchNorm in eval mode while the attack runs

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise UserError(f"steps must be >= 1, got {self.steps}")
        if self.step_size is not None and self.step_size <= 0:
            raise UserError(f"step_size must be > 0, got {self.step_size}")

    def resolve(self, context: RecipeContext) -> Self:
        if self.step_size is not None:
            return self
        return dataclasses.replace(self, step_size=context.eps / 4)


def pgd_cross_entropy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    config: AttackConfig,
    start: Start,
    generator: torch.Generator | None,
    p: float = math.inf,
) -> Tensor:
    """PGD on the cross-entropy with a recipe's attack options, BatchNorm mode included, in
    the ball of norm ``p``."""
    with eval_mode(model, config.bn_eval_attack):
        return pgd(
            model,
            x,
            cross_entropy_objective(y),
            p=p,
            eps=eps,
            step_size=config.step_size,
            steps=config.steps,
            start=start,
            generator=generator,
        )
