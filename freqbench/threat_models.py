"""Threat models: one card each, the one place that says what a threat model is.

A card names the threat model, its bound (a p-norm ball around each image, or a set of
corruptions), the metric that evaluates it, and what a leaderboard needs to give it a view.
Its eps on each dataset is not here: the dataset card states it (``DatasetInfo.eps``, keyed
by the threat model's name), and :meth:`ThreatModel.eps` reads it there; a plugin card,
which cannot edit the dataset cards, brings its own radii for the datasets whose card has
none (``default_eps``).

Everything else asks this registry: the protocol's ``norm`` field takes the names of the
bounded threat models, AutoAttack runs the card's ``attack_norm``, the adversarial recipes
attack in the card's ball, and the leaderboard has one view per card whose metric it shows.
Installed packages add cards through the entry-point group ``freqbench.threat_models``
(value ``module:CARD``, a :class:`ThreatModel`); see CONTRIBUTING.md, "Adding a threat
model". Nothing here imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from freqbench.registry import Registry

ENTRY_POINT_GROUP = "freqbench.threat_models"


class _HasEps(Protocol):  # a DatasetInfo (a lower layer must not import it)
    name: str
    eps: Mapping[str, float]
    channels: int
    image_size: tuple[int, int]

    def eps_for(self, threat_model: str) -> float: ...


@dataclass(frozen=True)
class ThreatModel:
    """One threat model: its bound, the evaluation it runs, its leaderboard view."""

    name: str
    description: str
    #: The p of the p-norm ball an attack stays in (math.inf, 2, 1); None: a corruption set.
    p: float | None
    #: The metric that evaluates it; its column ``column`` ranks the threat model's view.
    metric: str
    column: str
    #: The main table's title on its leaderboard view.
    board_title: str
    #: RobustBench's ``model_info`` key of the accuracy under this threat model.
    accuracy_field: str
    #: The name RobustBench gives it (``robustbench.json``'s threat_models), or None when
    #: RobustBench has no board for it.
    robustbench: str | None = None
    #: The norm name the attack library takes (pyautoattack's ``norm``), for bounded ones.
    attack_norm: str | None = None
    #: Where the standard eps per dataset come from (dataset cards hold the numbers).
    references: tuple[str, ...] = ()
    #: Radii by dataset name for datasets whose card names none for this threat model.
    default_eps: Mapping[str, float] = field(default_factory=dict)
    #: Views appear in this order (then by name).
    order: int = 100

    @property
    def bounded(self) -> bool:
        """Whether the threat model is a norm ball around each image (an attack's bound)."""
        return self.p is not None

    def eps(self, info: _HasEps) -> float:
        """The dataset's standard radius under this threat model: its dataset card's, else
        the card's ``default_eps`` for it."""
        if self.name not in info.eps and info.name in self.default_eps:
            return self.default_eps[info.name]
        return info.eps_for(self.name)

    def largest_distance(self, info: _HasEps) -> float:
        """The largest distance between two images of ``info`` in [0, 1]: d^(1/p) for d
        pixel values. An eps past it measures nothing."""
        if self.p is None:
            raise ValueError(f"threat model {self.name} is not a norm ball")
        h, w = info.image_size
        return 1.0 if math.isinf(self.p) else (info.channels * h * w) ** (1 / self.p)


_AUTOATTACK = {"metric": "autoattack", "column": "autoattack", "accuracy_field": "autoattack_acc"}

BUILTIN = (
    ThreatModel(
        "Linf", "perturbations of at most eps in every pixel value (RobustBench's Linf)",
        p=math.inf, board_title="Linf robustness", robustbench="Linf", attack_norm="Linf",
        references=("RobustBench (Croce et al., NeurIPS 2021 Datasets and Benchmarks)",),
        order=10, **_AUTOATTACK,
    ),
    ThreatModel(
        "L2", "perturbations of Euclidean norm at most eps (RobustBench's L2)",
        p=2.0, board_title="L2 robustness", robustbench="L2", attack_norm="L2",
        references=("RobustBench (Croce et al., NeurIPS 2021 Datasets and Benchmarks)",),
        order=20, **_AUTOATTACK,
    ),
    ThreatModel(
        "L1", "sparse perturbations of L1 norm at most eps, in the image box [0, 1] "
        "(AutoAttack's L1 version: APGD-CE and APGD-T with l1-APGD, FAB-T, Square)",
        p=1.0, board_title="L1 robustness", attack_norm="L1",
        references=(
            "Croce and Hein, Mind the box: l1-APGD for sparse adversarial attacks on image "
            "classifiers, ICML 2021 (CIFAR-10 eps 12)",
            "Croce and Hein, Adversarial robustness against multiple and single lp-threat "
            "models via quick fine-tuning of robust classifiers, ICML 2022 (CIFAR-10 eps 12, "
            "ImageNet eps 255)",
        ),
        order=30, **_AUTOATTACK,
    ),
    ThreatModel(
        "corruptions", "common corruptions (CIFAR-10-C, CIFAR-100-C, ImageNet-C: 15 "
        "corruptions x 5 severities), ranked whatever norm the record was attacked in",
        p=None, metric="corruptions", column="corruptions", board_title="Common corruptions",
        accuracy_field="corruptions_acc", robustbench="corruptions",
        references=("Hendrycks and Dietterich, ICLR 2019",), order=40,
    ),
    ThreatModel(
        "corruptions_3d", "ImageNet-3DCC: 12 3D-aware corruptions x 5 severities, read from "
        "the release files (Kar et al., CVPR 2022), ranked whatever norm the record was "
        "attacked in", p=None, metric="corruptions_3d", column="corruptions_3d",
        board_title="3D common corruptions (ImageNet-3DCC)", accuracy_field="corruptions_acc_3d",
        robustbench="corruptions_3d", references=("Kar et al., CVPR 2022",), order=50,
    ),
)  # fmt: skip


def _check(name: str, card: object, others: list[ThreatModel]) -> list[str]:
    if not isinstance(card, ThreatModel):
        return [f"it is a {type(card).__name__}, not a ThreatModel"]
    if card.name != name:
        return [f"it is registered as '{name}' but its card is named '{card.name}'"]
    if card.bounded and not card.attack_norm:
        return ["it is a norm ball but names no attack_norm"]
    return []


THREAT_MODELS: Registry[ThreatModel] = Registry(
    "threat model",
    ENTRY_POINT_GROUP,
    adopt=lambda entry_name, card: [(getattr(card, "name", entry_name), card)],
    check=_check,
    builtins=lambda: [(card.name, card) for card in BUILTIN],
)


def register_threat_model(card: ThreatModel) -> ThreatModel:
    """Add a card; a card that fails the checks, or whose name is taken, is a ValueError."""
    return THREAT_MODELS.register(getattr(card, "name", ""), card)


def get_threat_model(name: str) -> ThreatModel:
    """The card named ``name``; an unknown name is a UserError with close matches."""
    return THREAT_MODELS.get(name)


def threat_models() -> list[ThreatModel]:
    """Every card, in view order."""
    return sorted(THREAT_MODELS.values(), key=lambda card: (card.order, card.name))


def bounded_names() -> tuple[str, ...]:
    """The names of the norm-ball threat models: what the protocol's ``norm`` takes."""
    return tuple(card.name for card in threat_models() if card.bounded)


def source_of(name: str) -> str | None:
    """The plugin package that provides card ``name``; None for a built-in one."""
    get_threat_model(name)
    return THREAT_MODELS.source(name)


#: The threat model an evaluation is attacked in when none is named (RobustBench's first).
DEFAULT = BUILTIN[0].name
