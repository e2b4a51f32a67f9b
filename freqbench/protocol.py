"""The evaluation protocol: how many images, which eps, which seed. Every record states its own.

``Protocol.standard(dataset)`` is what a leaderboard compares; anything else is marked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from freqbench.data import DatasetInfo, get_dataset_info
from freqbench.errors import UserError

# AutoAttack images of the standard protocol: the whole CIFAR test set as RobustBench does;
# 1000 on Fashion-MNIST, what 2 CPU cores afford per model for a grid of recipes.
STANDARD_AUTOATTACK_N = {"fashion-mnist": 1000, "cifar10": 10000, "cifar100": 10000}
QUICK_AUTOATTACK_N = 200
QUICK_CORRUPTIONS_N = 1000


@dataclass(frozen=True)
class Protocol:
    norm: str = "Linf"
    eps: float | None = None  # None: the dataset's default for the norm
    n_examples: int | None = None  # None: the whole test set (clean, corruptions, frequency)
    autoattack_n_examples: int = 1000
    heatmap_n_examples: int = 1000
    corruptions_n_examples: int | None = None  # None: n_examples
    heatmap_eps: float | None = None  # None: 4.0 x H / 32 (Yin et al.'s value at 32 x 32)
    seed: int = 0
    batch_size: int = 500
    q: float = 0.8

    @classmethod
    def standard(cls, dataset: str) -> Protocol:
        n_aa = STANDARD_AUTOATTACK_N.get(dataset.removesuffix("-b"), 1000)
        return cls(autoattack_n_examples=n_aa, heatmap_n_examples=1000)

    @classmethod
    def quick(cls, dataset: str) -> Protocol:
        """For demos and smoke runs: 200 AutoAttack and heat-map images, 1000 corrupted ones
        (75 corrupted copies of each), the rest on the whole test set."""
        return cls(
            autoattack_n_examples=QUICK_AUTOATTACK_N,
            heatmap_n_examples=QUICK_AUTOATTACK_N,
            corruptions_n_examples=QUICK_CORRUPTIONS_N,
        )

    def resolved(self, info: DatasetInfo, n_test: int) -> Protocol:
        """Fill the dataset-dependent defaults, so the record holds actual numbers."""
        from freqbench.metrics.frequency import default_heatmap_eps

        if self.norm not in ("Linf", "L2"):
            raise UserError(f"norm must be Linf or L2, got '{self.norm}'")
        counts = (
            "n_examples",
            "autoattack_n_examples",
            "heatmap_n_examples",
            "corruptions_n_examples",
        )
        for name in (*counts, "batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"{name.replace('_', '-')} must be at least 1, got {value}")
        if self.eps is not None and self.eps < 0:
            raise UserError(f"eps must be >= 0, got {self.eps}")
        n = n_test if self.n_examples is None else self.n_examples
        if n > n_test:
            raise UserError(
                f"n-examples={n} is more than the {n_test} test images of {info.name}; "
                f"pass at most {n_test}"
            )
        return replace(
            self,
            n_examples=n,
            autoattack_n_examples=min(self.autoattack_n_examples, n),
            heatmap_n_examples=min(self.heatmap_n_examples, n),
            corruptions_n_examples=min(self.corruptions_n_examples or n, n),
            eps=info.eps(self.norm) if self.eps is None else self.eps,
            heatmap_eps=default_heatmap_eps(info.image_size[0])
            if self.heatmap_eps is None
            else self.heatmap_eps,
        )

    def is_standard(self, dataset: str, n_test: int) -> bool:
        """Same numbers as the standard protocol; the batch size may differ."""
        info = get_dataset_info(dataset)
        standard = Protocol.standard(dataset).resolved(info, n_test)
        return self.resolved(info, n_test) == replace(standard, batch_size=self.batch_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Protocol:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
