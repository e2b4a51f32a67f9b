"""Noise corruptions: Gaussian, shot (Poisson) and impulse (salt and pepper).

Hendrycks & Dietterich (ICLR 2019): sensor noise at the CIFAR-10-C severities. Each value of
each channel is corrupted independently, as the reference does on its HxWx3 arrays.
"""

from __future__ import annotations

import numpy as np

from freqbench.corruptions.ops import Images, standard_normal


def gaussian_noise(x: Images, sigma: float, rng: np.random.Generator) -> Images:
    """Additive N(0, sigma^2) noise."""
    return x + np.float32(sigma) * standard_normal(rng, x.shape).numpy()


def shot_noise(x: Images, photons: float, rng: np.random.Generator) -> Images:
    """Poisson(x * photons) / photons: fewer photons, more relative noise."""
    counts = rng.poisson(x * np.float32(photons))
    return (counts / np.float32(photons)).astype(np.float32)


def impulse_noise(x: Images, amount: float, rng: np.random.Generator) -> Images:
    """Salt and pepper as skimage's ``random_noise(mode='s&p', amount=amount)``.

    Each value is replaced with probability ``amount``, by 1 or 0 with equal chance;
    one uniform draw decides both (below amount / 2: salt, below amount: pepper).
    """
    u = rng.random(x.shape, dtype=np.float32)
    out = np.where(u < amount, np.float32(0), x)
    out[u < amount / 2] = 1
    return out
