"""Loss functions of the recipes, as pure functions of logits (so tests can check the formulas).

All are batch means. Where the reference code adds epsilons inside logarithms (MART's
``log(1.0001 - p + 1e-12)``), the same quantity is computed exactly and stably with
log-softmax and logsumexp instead, so the values are the papers' formulas.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

JSD_CLAMP = 1e-7  # AugMix clamps the mixture distribution before its log


def kl_divergence(log_p: Tensor, log_q: Tensor) -> Tensor:
    """Per-example KL(p || q) = sum_k p_k (log p_k - log q_k), from log-probabilities, (N,)."""
    return (log_p.exp() * (log_p - log_q)).sum(dim=1)


def trades_loss(logits_clean: Tensor, logits_adv: Tensor, y: Tensor, beta: float) -> Tensor:
    """TRADES (Zhang et al., ICML 2019): CE(f(x), y) + beta * KL(p(x) || p(x_adv)).

    Gradients flow through both distributions of the KL term, as in the reference code.
    """
    log_p_clean = F.log_softmax(logits_clean, dim=1)
    log_p_adv = F.log_softmax(logits_adv, dim=1)
    robust = kl_divergence(log_p_clean, log_p_adv).mean()
    return F.cross_entropy(logits_clean, y) + beta * robust


def mart_loss(logits_clean: Tensor, logits_adv: Tensor, y: Tensor, beta: float) -> Tensor:
    """MART (Wang et al., ICLR 2020): BCE(p(x_adv), y) + beta * KL(p(x) || p(x_adv)) (1 - p_y(x)).

    The boosted cross-entropy is CE - log(1 - max_{k != y} p_k(x_adv)); 1 - p_j is computed
    as the sum of the other probabilities, in log space.
    """
    log_p_adv = F.log_softmax(logits_adv, dim=1)
    true_class = y[:, None]
    wrong = log_p_adv.scatter(1, true_class, float("-inf"))
    runner_up = wrong.argmax(dim=1, keepdim=True)
    log_one_minus_runner_up = log_p_adv.scatter(1, runner_up, float("-inf")).logsumexp(dim=1)
    boosted_ce = F.nll_loss(log_p_adv, y) - log_one_minus_runner_up.mean()

    log_p_clean = F.log_softmax(logits_clean, dim=1)
    p_true = log_p_clean.gather(1, true_class).squeeze(1).exp()
    robust = (kl_divergence(log_p_clean, log_p_adv) * (1 - p_true)).mean()
    return boosted_ce + beta * robust


def jsd_consistency(logits: Sequence[Tensor]) -> Tensor:
    """Jensen-Shannon divergence among the predictions on several views (AugMix, eq. 1).

    JS(p_1, ..., p_n) = (1/n) sum_i KL(p_i || M), M = mean_i p_i; zero when all agree.
    """
    log_probs = [F.log_softmax(z, dim=1) for z in logits]
    mixture = torch.stack([lp.exp() for lp in log_probs]).mean(dim=0)
    log_mixture = mixture.clamp(JSD_CLAMP, 1.0).log()
    return sum(kl_divergence(lp, log_mixture).mean() for lp in log_probs) / len(log_probs)


def augmix_loss(
    logits_clean: Tensor, logits_views: Sequence[Tensor], y: Tensor, weight: float
) -> Tensor:
    """AugMix (Hendrycks et al., ICLR 2020): CE on the clean image + weight * JSD over all views."""
    return F.cross_entropy(logits_clean, y) + weight * jsd_consistency(
        [logits_clean, *logits_views]
    )
