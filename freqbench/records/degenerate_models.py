"""Degenerate models: numbers that look like results but come from a model that has not learned.

A near-constant classifier "resists" every attack and keeps its accuracy under every
corruption; ranking it next to real models misleads. A record is called degenerate, with the
numbers that say so, when

- its clean accuracy is within twice chance (1 / classes), or its
  predictions fall into fewer than half of the classes in effect
  (:mod:`freqbench.metrics.degenerate_predictions`; balanced test sets let a working classifier use them all);
- it was trained without adversarial examples (a recipe that does not declare itself
  adversarial) and AutoAttack leaves it more than :data:`ROBUST_SHARE` of its clean accuracy.

The leaderboard lists such records apart and never ranks them; ``evaluate`` prints the
reasons. The thresholds are deliberately loose: they catch models that did not learn, not
weak ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from freqbench.data import get_dataset_info
from freqbench.errors import UnknownNameError
from freqbench.metrics.degenerate_predictions import prediction_problems
from freqbench.recipes import get_recipe

#: A model trained without adversarial examples that keeps more than this share of its clean
#: accuracy under AutoAttack is not robust: it is constant, or it masks its gradients.
ROBUST_SHARE = 0.5


def _adversarial(recipe: Any) -> bool | None:
    """Whether the recipe trains on adversarial examples; None when it is not known here."""
    if not isinstance(recipe, str):
        return None
    try:
        return get_recipe(recipe).adversarial
    except UnknownNameError:
        return None


def degeneracies(record: Mapping[str, Any]) -> list[str]:
    """Why the record's model looks degenerate, one sentence each with its numbers; [] when
    nothing does (or the record lacks the numbers to tell)."""
    metrics = record.get("metrics", {})
    clean, attack = metrics.get("clean"), metrics.get("autoattack")
    try:
        classes = get_dataset_info(record["dataset"]).num_classes
    except UnknownNameError:
        return []
    found = []
    if isinstance(clean, Mapping):
        found += prediction_problems(
            clean["accuracy"], clean.get("predicted_classes") or [], classes
        )
    if isinstance(attack, Mapping):
        recipe = record.get("model", {}).get("recipe")
        found += implausible_robustness(
            recipe, "AutoAttack", attack["robust_accuracy"], attack["clean_accuracy"]
        )
    return found


def implausible_robustness(recipe: Any, attack: str, robust: float, accurate: float) -> list[str]:
    """Why ``robust`` accuracy under ``attack`` (of ``accurate`` clean) is not believable for
    a model trained by ``recipe`` without adversarial examples; [] when it is, or when the
    recipe trains on adversarial examples (or is unknown here). ``train`` and ``evaluate``
    flag the same models with it."""
    if _adversarial(recipe) is not False or accurate <= 0 or robust <= ROBUST_SHARE * accurate:
        return []
    return [
        f"{attack} leaves it {100 * robust:.2f}% of its {100 * accurate:.2f}% clean accuracy "
        f"({robust / accurate:.0%}), trained without adversarial examples: gradient masking "
        "or a model that did not learn"
    ]
