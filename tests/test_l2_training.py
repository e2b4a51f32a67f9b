"""Adversarial training in the threat model's ball: L2 PGD against a hand-written reference,
PGD-AT under L2, and a recipe or threat model training cannot attack in refused up front."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from freqbench.config import TrainConfig
from freqbench.errors import UserError
from freqbench.recipes import create_recipe
from freqbench.recipes.attacks import cross_entropy_objective, pgd_l2
from freqbench.training.setup import resolve


def _reference_pgd_l2(w, b, x, y, eps, step, steps):
    """L2 PGD on a linear softmax model, by hand in numpy: the gradient of the summed
    cross-entropy is (softmax - onehot) @ W per image; step along it over its norm, scale
    the perturbation back to norm eps when it is longer, clip to [0, 1]."""
    x0 = x.reshape(len(x), -1).astype(np.float64)
    xa = x0.copy()
    for _ in range(steps):
        logits = xa @ w.T + b
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(y)), y] -= 1.0
        grad = p @ w
        xa = xa + step * grad / np.maximum(np.linalg.norm(grad, axis=1, keepdims=True), 1e-12)
        delta = xa - x0
        norm = np.linalg.norm(delta, axis=1, keepdims=True)
        xa = np.clip(x0 + delta * np.minimum(1.0, eps / np.maximum(norm, 1e-12)), 0.0, 1.0)
    return xa.reshape(x.shape)


def test_pgd_l2_equals_a_hand_written_reference():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5)).double().eval()
    x = torch.rand(6, 3, 4, 4, dtype=torch.float64)
    x[:, 0, 0] = 0.0  # at the edges of [0, 1]: clipping acts
    x[:, 1, 1] = 1.0
    y = torch.arange(6) % 5
    eps, step, steps = 0.5, 0.2, 5
    ours = pgd_l2(
        model, x, cross_entropy_objective(y), eps=eps, step_size=step, steps=steps, start="none"
    )
    w, b = (t.detach().numpy() for t in model[1].parameters())
    reference = _reference_pgd_l2(w, b, x.numpy(), y.numpy(), eps, step, steps)
    np.testing.assert_allclose(ours.numpy(), reference, atol=1e-10)
    assert (ours - x).flatten(1).norm(dim=1).max() <= eps + 1e-9


def test_pgd_l2_random_start_stays_in_the_ball():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5)).eval()
    x = torch.rand(8, 3, 4, 4)
    g = torch.Generator().manual_seed(0)
    x_adv = pgd_l2(model, x, cross_entropy_objective(torch.zeros(8, dtype=torch.long)),
                   eps=0.3, step_size=0.1, steps=2, generator=g)  # fmt: skip
    assert (x_adv - x).flatten(1).norm(dim=1).max() <= 0.3 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_pgd_at_trains_in_the_l2_ball():
    spec = resolve(TrainConfig(recipe="pgd-at", dataset="fashion-mnist", threat_model="L2"))
    assert spec.eps == 1.5 and spec.p == 2.0  # fashion-mnist's card: L2 eps 1.5
    assert spec.recipe.ball_p == 2.0
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    x, y = torch.rand(4, 1, 28, 28), torch.arange(4)
    out = spec.recipe.loss(model, x, y, torch.Generator().manual_seed(0))
    assert out.loss.isfinite() and out.logits.shape == (4, 10)


def test_a_linf_only_recipe_refuses_l2_before_training():
    with pytest.raises(UserError, match=r"recipe 'trades' attacks in the Linf ball only.*pgd-at"):
        create_recipe("trades", eps=0.5, threat_model="L2")
    assert create_recipe("trades", eps=0.5).ball_p == math.inf  # Linf by default


def test_training_refuses_a_threat_model_it_cannot_attack_in():
    with pytest.raises(UserError, match="threat model L1 is not one"):
        resolve(TrainConfig(recipe="natural", threat_model="L1"))
    with pytest.raises(UserError, match="larger than any Linf distance"):
        resolve(TrainConfig(recipe="pgd-at", eps=2.0))
