"""Whether a record's row is ranked: its protocol against its dataset's standard one, and
whether its model learned at all (:mod:`freqbench.records.degenerate_models`).

A record's own ``protocol.standard`` flag is informative only; the judgement is made again here
by :mod:`freqbench.protocol` from the numbers, so a record written by an older evaluator, or
edited by hand, is still judged the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from freqbench import protocol
from freqbench.metrics import MetricSpec
from freqbench.records import Record
from freqbench.records.degenerate_models import degeneracies


def deviations(record: Record, specs: Sequence[MetricSpec]) -> list[str]:
    """How the record's protocol differs from its dataset's standard one, on the fields its
    blocks of the board's metrics read; empty when it does not. What else is installed, and
    the record's other blocks, play no part."""
    shown = [spec.name for spec in specs if spec.name in record.data["metrics"]]
    return protocol.deviations(record.dataset, record.data["protocol"], shown)


def why_not_ranked(record: Record, specs: Sequence[MetricSpec]) -> list[str]:
    """Why the record's row stays out of the ranking: random weights, how its protocol
    deviates, and why its model looks degenerate; empty when it is ranked."""
    untrained = (
        ["random weights (--random-init): only trained models are ranked"]
        if record.get("model", "weights") == "random"
        else []
    )
    degenerate = [f"degenerate: {d}" for d in degeneracies(record.data)]
    return untrained + deviations(record, specs) + degenerate
