"""Degenerate models: hand-computed cases of near-chance accuracy, collapsed predictions and
robustness without adversarial training, and how the leaderboard keeps them out of the ranking."""

from __future__ import annotations

import math

import pytest

from freqbench.leaderboard import build_leaderboard
from freqbench.metrics.degenerate_predictions import effective_classes, prediction_problems
from freqbench.records.degenerate_models import degeneracies
from tests.test_leaderboard import as_records, make_record


def test_effective_classes_is_the_exponential_of_the_entropy():
    assert effective_classes([5, 5, 0, 0]) == pytest.approx(2.0)
    assert effective_classes([1] * 10) == pytest.approx(10.0)
    assert effective_classes([100, 0, 0]) == pytest.approx(1.0)
    p = [0.5, 0.25, 0.25]
    assert effective_classes([2, 1, 1]) == pytest.approx(math.exp(-sum(q * math.log(q) for q in p)))
    assert effective_classes([0, 0]) == 0.0


def test_prediction_problems_name_their_numbers():
    assert prediction_problems(0.88, [100] * 10, 10) == []
    near = prediction_problems(0.19, [100] * 10, 10)
    assert near == ["clean accuracy 19.00% is within 2x chance (10.00%)"]
    collapsed = prediction_problems(0.368, [400, 300, 300] + [0] * 7, 10)
    assert (
        collapsed
        == [
            "its predictions fall into 3.0 of 10 classes in effect (most predicted: 400 of 1000 images)"  # e^1.089
        ]
    )


def _degenerate_records():
    chance = make_record("chance", recipe="natural", clean=0.12, autoattack=0.0)
    collapsed = make_record("collapsed", recipe="natural", clean=0.40, autoattack=0.0)
    constant = make_record("constant", recipe="natural", clean=0.40, autoattack=0.30)
    robust = make_record("robust", recipe="pgd-at", clean=0.80, autoattack=0.70)
    healthy = make_record("healthy", recipe="natural", clean=0.88, autoattack=0.0)
    records = as_records(chance, collapsed, constant, robust, healthy)
    by_name = {r.name: r for r in records}
    by_name["collapsed"].data["metrics"]["clean"]["predicted_classes"] = [500, 500] + [0] * 8
    return records, by_name


def test_degeneracies_of_a_record():
    _, records = _degenerate_records()
    assert degeneracies(records["chance"].data) == [
        "clean accuracy 12.00% is within 2x chance (10.00%)"
    ]
    assert degeneracies(records["collapsed"].data) == [
        "its predictions fall into 2.0 of 10 classes in effect (most predicted: 500 of 1000 images)"
    ]
    assert degeneracies(records["constant"].data) == [
        "AutoAttack leaves it 30.00% of its 40.00% clean accuracy (75%), trained without "
        "adversarial examples: gradient masking or a model that did not learn"
    ]
    assert degeneracies(records["robust"].data) == []  # adversarially trained: expected
    assert degeneracies(records["healthy"].data) == []


def test_the_leaderboard_lists_degenerate_models_apart_with_why():
    records, _ = _degenerate_records()
    board = build_leaderboard(records, "fashion-mnist")
    assert list(board.main.frame["model"]) == ["robust", "healthy"]
    why = dict(zip(board.unranked.frame["model"], board.unranked.frame["why"], strict=True))
    assert why["constant"].startswith("degenerate: AutoAttack leaves it 30.00%")
    assert why["chance"] == "degenerate: clean accuracy 12.00% is within 2x chance (10.00%)"
    assert set(why) == {"chance", "collapsed", "constant"}
