"""Whether a model's clean predictions look like a classifier's: the checks that need only its
predictions (the record-level ones are in :mod:`freqbench.records.degenerate_models`).

A model whose clean accuracy is within :data:`CHANCE_FACTOR` times chance, or whose
predictions fall into fewer than half the classes in effect (:func:`effective_classes`), has
not learned; AutoAttack uses these checks to say so before it spends minutes on such a model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Clean accuracy at most this many times chance is no better than guessing.
CHANCE_FACTOR = 2.0


def effective_classes(counts: Sequence[int]) -> float:
    """exp(entropy) of the predicted-class distribution: K when predictions spread evenly over
    K classes, 1 when they all fall into one."""
    total = sum(counts)
    if total == 0:
        return 0.0
    shares = [c / total for c in counts if c > 0]
    return math.exp(-sum(p * math.log(p) for p in shares))


def prediction_problems(accuracy: float, counts: Sequence[int], classes: int) -> list[str]:
    """Why clean predictions (accuracy, counts per class) look degenerate; [] when they do not."""
    found = []
    chance = 1 / classes
    if accuracy <= CHANCE_FACTOR * chance:
        found.append(
            f"clean accuracy {100 * accuracy:.2f}% is within {CHANCE_FACTOR:g}x chance "
            f"({100 * chance:.2f}%)"
        )
    effective = effective_classes(counts)
    # Fewer than two images per class cannot show a spread over every class.
    if sum(counts) >= 2 * classes and effective < classes / 2:
        found.append(
            f"its predictions fall into {effective:.1f} of {classes} classes in effect "
            f"(most predicted: {max(counts)} of {sum(counts)} images)"
        )
    return found
