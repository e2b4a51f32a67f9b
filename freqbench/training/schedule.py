"""Learning-rate schedules, evaluated per optimizer step.

- ``piecewise``: the base rate, divided by 10 at 50% and again at 75% of the steps (the
  step-decay schedule of Madry et al. and Rice et al., placed at fixed fractions of training).
- ``cosine``: base * (1 + cos(pi * t / T)) / 2 (Loshchilov and Hutter, ICLR 2017, no restarts).
"""

from __future__ import annotations

import math

PIECEWISE_MILESTONES = (0.5, 0.75)
PIECEWISE_FACTOR = 0.1


def learning_rate(schedule: str, base_lr: float, step: int, total_steps: int) -> float:
    """The rate for optimizer step ``step`` (0-based) of ``total_steps``."""
    progress = step / total_steps
    if schedule == "cosine":
        return base_lr * 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "piecewise":
        drops = sum(progress >= milestone for milestone in PIECEWISE_MILESTONES)
        return base_lr * PIECEWISE_FACTOR**drops
    raise ValueError(f"unknown schedule '{schedule}'")
