"""How a claim is judged: comparisons with a noise band, and the rule that turns them into a verdict.

A comparison measures a value against a reference in the direction a claim predicts. It
*supports* the claim when the difference goes that way by more than the noise band,
*contradicts* it when it goes the other way by more than the band, and shows *no measurable
difference* otherwise. A part of a claim **holds** when every comparison supports it,
**does not hold** when none does, and is **unclear** when they disagree (or when a record is
missing, or the data cannot show the effect). A claim of several parts holds when every part
holds and does not hold when any part does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

HOLDS, DOES_NOT_HOLD, UNCLEAR = "holds", "does not hold", "unclear"
SUPPORTS, CONTRADICTS, NO_DIFFERENCE = "supports", "contradicts", "no measurable difference"

# One seed per model gives no variance for weight statistics: changes under this fraction of
# the reference value (or under STAT_FLOOR in absolute terms) count as no measurable difference.
STAT_RELATIVE_BAND = 0.05
STAT_FLOOR = 0.01


def accuracy_band(p1: float, n1: int, p2: float, n2: int) -> float:
    """Two standard errors of the difference of two accuracies (fractions) on n1 and n2 images."""
    return 2 * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)


def stat_band(reference: float) -> float:
    return max(STAT_RELATIVE_BAND * abs(reference), STAT_FLOOR)


def outcome(value: float, reference: float, band: float, direction: int) -> str:
    """``direction`` +1: the claim predicts value > reference; -1: value < reference."""
    difference = direction * (value - reference)
    if difference > band:
        return SUPPORTS
    if difference < -band:
        return CONTRADICTS
    return NO_DIFFERENCE


@dataclass(frozen=True)
class Comparison:
    label: str
    value: float
    reference: float
    band: float
    direction: int
    percent: bool = True  # accuracies (fractions shown in %) or plain statistics

    @property
    def outcome(self) -> str:
        return outcome(self.value, self.reference, self.band, self.direction)


@dataclass(frozen=True)
class Part:
    """One testable statement of a claim and its evidence."""

    statement: str
    comparisons: list[Comparison] = field(default_factory=list)
    unclear_because: str | None = None  # the data cannot test the statement
    # Outcomes judged from several comparisons together (e.g. clean and robust accuracy of
    # one BaSS twin), by label; when given, they decide the verdict instead of each comparison.
    joint: dict[str, str] = field(default_factory=dict)

    @property
    def outcomes(self) -> list[str]:
        return list(self.joint.values()) if self.joint else [c.outcome for c in self.comparisons]

    @property
    def verdict(self) -> str:
        outcomes = self.outcomes
        if self.unclear_because or not outcomes:
            return UNCLEAR
        if all(o == SUPPORTS for o in outcomes):
            return HOLDS
        if SUPPORTS not in outcomes:
            return DOES_NOT_HOLD
        return UNCLEAR


def combine(verdicts: list[str]) -> str:
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    if DOES_NOT_HOLD in verdicts:
        return DOES_NOT_HOLD
    return UNCLEAR
