"""The standard evaluation protocol of each dataset: the one table the leaderboard compares against.

A record's own ``protocol.standard`` flag is informative only; whether a row is comparable is
recomputed here from the numbers (images evaluated, AutoAttack images, eps), so a record
written by an older evaluator, or edited by hand, is still judged the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from freqbench.data import get_dataset_info
from freqbench.protocol import STANDARD_AUTOATTACK_N
from freqbench.records import Record


@dataclass(frozen=True)
class StandardProtocol:
    n_examples: int  # clean, corruption and frequency metrics: exactly this many test images
    autoattack_n_examples: int  # AutoAttack: at least this many
    eps: dict[str, float]  # per norm
    headline_norm: str = "Linf"

    def describe(self) -> str:
        eps = format_eps(self.eps[self.headline_norm])
        others = ", ".join(
            f"{n} {format_eps(e)}" for n, e in self.eps.items() if n != self.headline_norm
        )
        return (
            f"{self.n_examples} test images; AutoAttack (standard version) on at least "
            f"{self.autoattack_n_examples} of them at {self.headline_norm} eps {eps}"
            + (f" ({others} for L2 records)" if others else "")
        )


# Every dataset with a standard protocol has a 10,000-image test split.
TEST_IMAGES = 10_000


def standard_protocol(dataset: str) -> StandardProtocol | None:
    """The dataset's standard protocol, from the numbers the evaluator itself uses
    (:mod:`freqbench.protocol`, the dataset's eps); a BaSS "-b" test set shares its base's."""
    base = dataset.removesuffix("-b")
    if base not in STANDARD_AUTOATTACK_N:
        return None
    info = get_dataset_info(base)
    eps = {"Linf": info.eps("Linf"), "L2": info.eps("L2")}
    return StandardProtocol(TEST_IMAGES, STANDARD_AUTOATTACK_N[base], eps)


def format_eps(eps: float) -> str:
    """A short decimal (0.1, 1.5) as is, a long one that is k/255 as "8/255": as papers write them."""
    text = f"{eps:g}"
    k = eps * 255
    if len(text) > 5 and abs(k - round(k)) < 1e-6 and round(k) >= 1:
        return f"{round(k)}/255"
    return text


def deviations(record: Record) -> list[str]:
    """How the record's protocol differs from its dataset's standard one; empty when it does not."""
    standard = standard_protocol(record.dataset)
    if standard is None:
        return [f"no standard protocol is defined for {record.dataset}"]
    protocol = record.data["protocol"]
    found = []
    if protocol["n_examples"] != standard.n_examples:
        found.append(f"n_examples {protocol['n_examples']} (standard {standard.n_examples})")
    corrupted = protocol.get("corruptions_n_examples", protocol["n_examples"])
    if record.get("metrics", "corruptions") is not None and corrupted != standard.n_examples:
        found.append(f"corruptions_n_examples {corrupted} (standard {standard.n_examples})")
    aa_n = protocol["autoattack_n_examples"]
    if record.get("metrics", "autoattack") is not None and aa_n < standard.autoattack_n_examples:
        found.append(f"autoattack_n_examples {aa_n} (standard >= {standard.autoattack_n_examples})")
    want = standard.eps.get(protocol["norm"])
    if want is None:
        found.append(f"norm {protocol['norm']} (standard {', '.join(standard.eps)})")
    elif not math.isclose(protocol["eps"], want, rel_tol=1e-6):
        found.append(f"eps {format_eps(protocol['eps'])} (standard {format_eps(want)})")
    return found
