"""How sure a leaderboard number is: 95% binomial intervals of accuracies, and rank groups.

An accuracy measured on n test images is a binomial proportion; its 95% interval is the Wilson
score interval (Wilson 1927), which, unlike the normal approximation p ± 1.96 sqrt(p(1-p)/n),
stays inside [0, 1] and keeps its coverage near 0 and 1, where robust accuracies of natural
models sit. Rank groups say which ranks the evaluation's sample size cannot tell apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: The standard normal quantile of 0.975: a two-sided 95% interval.
Z95 = 1.959963984540054

Interval = tuple[float, float]


def wilson(p: float, n: int, z: float = Z95) -> Interval:
    """The Wilson score interval (low, high) of a proportion ``p`` observed on ``n`` trials."""
    if n <= 0:
        raise ValueError(f"an interval needs at least one image, got n = {n}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"a proportion lies in [0, 1], got {p}")
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z2n / (4 * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def overlap(a: Interval, b: Interval) -> bool:
    """Whether two closed intervals share a point."""
    return a[0] <= b[1] and b[0] <= a[1]


def rank_groups(intervals: Sequence[Interval | None]) -> list[int | None]:
    """Group marks (1, 2, ...) of rows in rank order, from their intervals of the ranking column.

    The first row opens group 1; going down, a row opens the next group when its interval
    does not overlap the interval of the first row of the current group, and joins that group
    otherwise. A row without an interval gets None and changes no group.
    """
    groups: list[int | None] = []
    leader: Interval | None = None
    current = 0
    for interval in intervals:
        if interval is None:
            groups.append(None)
            continue
        if leader is None or not overlap(interval, leader):
            current += 1
            leader = interval
        groups.append(current)
    return groups
