"""Whether a record's row is comparable: its protocol against its dataset's standard one.

A record's own ``protocol.standard`` flag is informative only; the judgement is made again here
by :mod:`freqbench.protocol` from the numbers, so a record written by an older evaluator, or
edited by hand, is still judged the same way.
"""

from __future__ import annotations

from freqbench import protocol
from freqbench.records import Record


def deviations(record: Record) -> list[str]:
    """How the record's protocol differs from its dataset's standard one; empty when it does not."""
    return protocol.deviations(record.dataset, record.data["protocol"], record.data["metrics"])
