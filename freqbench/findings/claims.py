"""The claims of the three papers, each a function of the records that can test it.

Every claim names the roles it needs (the natural model, the adversarially trained ones, the
smoothed copies, the BaSS twins); :class:`Roles` maps them to record names, from a grid file.
A claim whose records are missing is unclear and says which are missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from freqbench.findings.evidence import (
    CONTRADICTS,
    NO_DIFFERENCE,
    SUPPORTS,
    UNCLEAR,
    Comparison,
    Part,
    accuracy_band,
    combine,
    outcome,
    stat_band,
)
from freqbench.records import dig

ADVERSARIAL_RECIPES = ("pgd-at", "trades", "mart", "fgsm-rs")
BASS_TRADE_OFF_RECIPES = ("pgd-at", "trades", "mart")
Records = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Roles:
    """Which record plays which part: names of records in the dataset's folder."""

    natural: str
    adversarial: tuple[str, ...] = ()  # plain rows of ADVERSARIAL_RECIPES
    smoothed: tuple[tuple[str, float], ...] = ()  # (name, rho)
    bass_twins: dict[str, tuple[str, str]] = field(default_factory=dict)  # recipe: (plain, bass)

    def present(self, records: Records) -> Roles:
        """The roles whose records exist ("" for a natural model without a record)."""
        return Roles(
            natural=self.natural if self.natural in records else "",
            adversarial=tuple(n for n in self.adversarial if n in records),
            smoothed=tuple((n, rho) for n, rho in self.smoothed if n in records),
            bass_twins={
                r: pair for r, pair in self.bass_twins.items() if all(n in records for n in pair)
            },
        )


@dataclass(frozen=True)
class Finding:
    """A claim's verdict on the records that exist; ``missing`` ones are named, not guessed."""

    key: str
    paper: str
    claim: str
    parts: list[Part]
    records: list[str]  # the records used
    missing: list[str] = field(default_factory=list)  # the records the claim would also use
    limits: str = ""  # what in this setup limits the test of this claim

    @property
    def verdict(self) -> str:
        return combine([p.verdict for p in self.parts]) if self.parts else UNCLEAR


@dataclass(frozen=True)
class Claim:
    key: str
    paper: str
    text: str
    needs: Callable[[Roles], list[str]]  # every record the claim uses
    enough: Callable[[Roles], bool]  # whether the present records can test it at all
    judge: Callable[[Records, Roles], list[Part]]
    limits: str = ""

    def check(self, records: Records, roles: Roles) -> Finding:
        missing = [n for n in self.needs(roles) if n not in records]
        present = roles.present(records)
        if not self.enough(present):
            return Finding(self.key, self.paper, self.text, [], [], missing, self.limits)
        used = self.needs(present)
        parts = self.judge(records, present)
        return Finding(self.key, self.paper, self.text, parts, used, missing, self.limits)


def _acc(record: dict[str, Any], *keys: str) -> float:
    return float(dig(record, "metrics", *keys))


def _n(record: dict[str, Any]) -> int:
    return int(record["protocol"]["n_examples"])


def _accuracy_comparison(
    label: str, value: float, n_value: int, reference: float, n_reference: int, direction: int
) -> Comparison:
    band = accuracy_band(value, n_value, reference, n_reference)
    return Comparison(label, value, reference, band, direction)


def _robust_comparison(label: str, record: dict, reference: dict, direction: int) -> Comparison:
    """AutoAttack accuracies, each on the number of images it was measured on.

    An accuracy that AutoAttack's own checks flagged (e.g. Square breaking points the
    gradient attacks did not) is named in the label, so a verdict never hides it.
    """
    flagged = [
        r["name"] for r in (record, reference) if dig(r, "metrics", "autoattack").get("unreliable")
    ]
    if flagged:
        label += f" (AutoAttack flagged unreliable: {', '.join(flagged)})"
    return _accuracy_comparison(
        label,
        _acc(record, "autoattack", "robust_accuracy"),
        int(dig(record, "metrics", "autoattack", "n")),
        _acc(reference, "autoattack", "robust_accuracy"),
        int(dig(reference, "metrics", "autoattack", "n")),
        direction,
    )


def _stat_comparison(label: str, value: float, reference: float, direction: int) -> Comparison:
    return Comparison(label, value, reference, stat_band(reference), direction, percent=False)


def _recipe(records: Records, name: str) -> str:
    return records[name]["model"]["recipe"]


# Wang et al., CVPR 2020 ---------------------------------------------------------------------


def _high_frequency_use(records: Records, roles: Roles) -> list[Part]:
    natural = records[roles.natural]
    n, chance = _n(natural), 1 / _num_classes(natural)
    high = {
        r: float(v) for r, v in dig(natural, "metrics", "band_split", "high_pass_accuracy").items()
    }
    low = dig(natural, "metrics", "band_split", "low_pass_accuracy")
    best_radius = max(high, key=high.get)
    small = min(low, key=int)
    clean = _acc(natural, "clean", "accuracy")
    return [
        Part(
            "high-pass images keep above-chance accuracy (best radius)",
            [
                _accuracy_comparison(
                    f"HFC r={best_radius} vs chance", high[best_radius], n, chance, n, +1
                )
            ],
        ),
        Part(
            "low-pass images at the smallest radius lose accuracy",
            [_accuracy_comparison(f"LFC r={small} vs clean", float(low[small]), n, clean, n, -1)],
        ),
    ]


def _num_classes(record: dict[str, Any]) -> int:
    from freqbench.data import get_dataset_info

    return get_dataset_info(record["dataset"]).num_classes


def _at_lowers_hfc(records: Records, roles: Roles) -> list[Part]:
    natural = records[roles.natural]
    n, chance = _n(natural), 1 / _num_classes(natural)
    high = dig(natural, "metrics", "band_split", "high_pass_accuracy")
    informative = [
        r for r, v in high.items()
        if outcome(float(v), chance, accuracy_band(float(v), n, chance, n), +1) == SUPPORTS
    ]  # fmt: skip
    statement = "adversarially trained models have lower high-pass accuracy"
    if not informative:
        return [
            Part(statement, unclear_because="the natural model's high-pass accuracy is at chance "
                 "at every radius, so there is nothing to lower")
        ]  # fmt: skip
    comparisons = [
        _accuracy_comparison(
            f"{_recipe(records, name)}: HFC r={r}",
            float(dig(records[name], "metrics", "band_split", "high_pass_accuracy", r)),
            _n(records[name]), float(high[r]), n, -1,
        )
        for name in roles.adversarial
        for r in informative
    ]  # fmt: skip
    return [Part(statement, comparisons)]


def _statistic_vs_natural(
    key: tuple[str, ...], label: str, direction: int, statement: str
) -> Callable[[Records, Roles], list[Part]]:
    """A judge comparing one statistic of every adversarially trained model with the natural one."""

    def judge(records: Records, roles: Roles) -> list[Part]:
        reference = float(dig(records[roles.natural], "metrics", *key))
        comparisons = [
            _stat_comparison(
                f"{_recipe(records, name)}: {label}",
                float(dig(records[name], "metrics", *key)),
                reference,
                direction,
            )
            for name in roles.adversarial
        ]
        return [Part(statement, comparisons)]

    return judge


def _smoothing_trade(records: Records, roles: Roles) -> list[Part]:
    natural = records[roles.natural]
    robust, clean = [], []
    for name, rho in roles.smoothed:
        record = records[name]
        robust.append(_robust_comparison(f"rho {rho:g}: AutoAttack", record, natural, +1))
        clean.append(
            _accuracy_comparison(
                f"rho {rho:g}: clean", _acc(record, "clean", "accuracy"), _n(record),
                _acc(natural, "clean", "accuracy"), _n(natural), -1,
            )
        )  # fmt: skip
    return [
        Part("smoothing raises AutoAttack accuracy", robust),
        Part("smoothing lowers clean accuracy", clean),
    ]


# Lin et al., NeurIPS 2023 -------------------------------------------------------------------


def trade_off(clean: Comparison, robust: Comparison) -> str:
    """Better on one axis and no worse on the other supports; worse and no better contradicts."""
    outcomes = {clean.outcome, robust.outcome}
    if SUPPORTS in outcomes and CONTRADICTS not in outcomes:
        return SUPPORTS
    if CONTRADICTS in outcomes and SUPPORTS not in outcomes:
        return CONTRADICTS
    return NO_DIFFERENCE  # both unchanged, or a move along the trade-off


def _bass_trade_off(records: Records, roles: Roles) -> list[Part]:
    comparisons, joint = [], {}
    for recipe in (r for r in BASS_TRADE_OFF_RECIPES if r in roles.bass_twins):
        plain, bass = (records[n] for n in roles.bass_twins[recipe])
        pair = f"{recipe}+bass vs {recipe}"
        clean = _accuracy_comparison(
            f"{pair}: clean", _acc(bass, "clean", "accuracy"), _n(bass),
            _acc(plain, "clean", "accuracy"), _n(plain), +1,
        )  # fmt: skip
        robust = _robust_comparison(f"{pair}: AutoAttack", bass, plain, +1)
        comparisons += [clean, robust]
        joint[pair] = trade_off(clean, robust)
    statement = "BaSS is better on clean or AutoAttack accuracy and worse on neither"
    return [Part(statement, comparisons, joint=joint)]


def _augmix_noise(records: Records, roles: Roles) -> list[Part]:
    plain, bass = (records[n] for n in roles.bass_twins["augmix"])
    key = ("corruptions", "per_family", "noise")
    comparison = _accuracy_comparison(
        "augmix+bass vs augmix: noise corruptions", _acc(bass, *key), _n(bass), _acc(plain, *key), _n(plain), +1
    )  # fmt: skip
    return [Part("noise-family corruption accuracy is higher with BaSS", [comparison])]


# Gavrikov and Keuper, CVPR 2022 -------------------------------------------------------------


def _layers(record: dict[str, Any]) -> list[dict[str, Any]]:
    return dig(record, "metrics", "filters", "layers")


def _deeper_layers(records: Records, roles: Roles) -> list[Part]:
    natural_layers = _layers(records[roles.natural])[1:]
    parts = []
    for stat, direction, word in (("sparsity", -1, "lower"), ("orthogonality", +1, "higher")):
        statement = f"deeper layers have {word} {stat}"
        if direction < 0 and all(layer[stat] == 0 for layer in natural_layers):
            parts.append(Part(statement, unclear_because=f"the natural model's deeper layers have "
                              f"{stat} 0, so there is nothing to lower"))  # fmt: skip
            continue
        comparisons = [
            _stat_comparison(f"{_recipe(records, name)}: {layer['name']} {stat}", layer[stat], ref[stat], direction)
            for name in roles.adversarial
            for layer, ref in zip(_layers(records[name])[1:], natural_layers, strict=True)
        ]  # fmt: skip
        parts.append(Part(statement, comparisons))
    return parts


def _shift_at_ends(records: Records, roles: Roles) -> list[Part]:
    """Per model: the first and the last layer each against the largest middle-layer shift."""
    ends: dict[str, list[Comparison]] = {"first": [], "last": []}
    for name in roles.adversarial:
        layers = dig(records[name], "metrics", "filters", "distribution_shift", "layers") or []
        shifts = [float(layer["distribution_shift"]) for layer in layers]
        if len(shifts) < 3:
            continue
        recipe, middle = _recipe(records, name), max(shifts[1:-1])
        for end, shift in (("first", shifts[0]), ("last", shifts[-1])):
            label = f"{recipe}: {end} layer vs largest middle layer"
            ends[end].append(Comparison(label, shift, middle, 0.0, +1, percent=False))
    if not ends["first"]:
        return [Part("the first and last layers shift most", unclear_because="no record has a "
                     "per-layer distribution shift over at least three layers")]  # fmt: skip
    return [
        Part(f"the {end} layer shifts more than every middle layer", comparisons)
        for end, comparisons in ends.items()
    ]


def _natural_and_adversarial(roles: Roles) -> list[str]:
    return [roles.natural, *roles.adversarial]


def _twins(*recipes: str) -> Callable[[Roles], list[str]]:
    def needs(roles: Roles) -> list[str]:
        return [name for r in recipes for name in roles.bass_twins.get(r, ())]

    return needs


def _natural_plus(field_name: str) -> Callable[[Roles], bool]:
    """Enough when the natural model and at least one record of ``field_name`` exist."""

    def enough(roles: Roles) -> bool:
        return roles.natural != "" and bool(getattr(roles, field_name))

    return enough


def _any_twin(*recipes: str) -> Callable[[Roles], bool]:
    return lambda roles: any(r in roles.bass_twins for r in recipes)


WANG, LIN, GAVRIKOV = (
    "Wang et al. (CVPR 2020)",
    "Lin et al. (NeurIPS 2023)",
    "Gavrikov and Keuper (CVPR 2022)",
)
_adversarial = _natural_plus("adversarial")

CLAIMS: tuple[Claim, ...] = (
    Claim("W1", WANG, "The natural model keeps above-chance accuracy on high-frequency-only images "
          "while losing accuracy on low-frequency images at small radii.",
          lambda roles: [roles.natural], lambda roles: roles.natural != "", _high_frequency_use,
          limits="Wang et al. filter CIFAR-10 (32 px); here the radii are scaled to 28 px (4, 7, "
          "11, 14) and the filtered images are not clipped (the project's definition, docs/DESIGN.md)."),
    Claim("W2", WANG, "Adversarial training lowers the accuracy on high-frequency-only images.",
          _natural_and_adversarial, _adversarial, _at_lowers_hfc),
    Claim("W3", WANG, "Adversarially trained first-layer kernels are smoother (lower kernel "
          "high-frequency energy).", _natural_and_adversarial, _adversarial,
          _statistic_vs_natural(("filters", "first_layer", "kernel_high_frequency_energy"),
                                "kernel HF energy", -1, "first-layer kernel high-frequency energy is lower")),
    Claim("W4", WANG, "Smoothing the first-layer kernels of the natural model raises its "
          "AutoAttack accuracy and lowers its clean accuracy.",
          lambda roles: [roles.natural, *(n for n, _ in roles.smoothed)], _natural_plus("smoothed"),
          _smoothing_trade,
          limits="AutoAttack on 1000 images; Wang et al. report PGD accuracy of CIFAR-10 models."),
    Claim("L1", LIN, "The natural model's input-gradient power sits more in the spectral tail "
          "than the adversarially trained models'.", _natural_and_adversarial, _adversarial,
          _statistic_vs_natural(("gradient_spectrum", "tail_share"), "gradient tail share", -1,
                                "adversarially trained models put less gradient power in the tail")),
    Claim("L2", LIN, "BaSS improves the clean/robust trade-off of PGD-AT, TRADES and MART.",
          _twins(*BASS_TRADE_OFF_RECIPES), _any_twin(*BASS_TRADE_OFF_RECIPES), _bass_trade_off,
          limits="One epoch with a 5-step attack and one seed per model: Lin et al. train for "
          "100+ epochs, and seed-to-seed spread of these short runs is not measured here."),
    Claim("L3", LIN, "AugMix with BaSS has higher noise-family corruption accuracy than AugMix.",
          _twins("augmix"), _any_twin("augmix"), _augmix_noise),
    Claim("G1", GAVRIKOV, "Adversarially trained models have lower sparsity and higher "
          "orthogonality in deeper layers.", _natural_and_adversarial, _adversarial, _deeper_layers,
          limits="smallcnn has four 3x3 convolution layers, so 'deeper layers' are its last three; "
          "Gavrikov and Keuper study hundreds of ImageNet and CIFAR models."),
    Claim("G2", GAVRIKOV, "The filter distribution shift from the natural model is largest at "
          "the first and last layers.", lambda roles: list(roles.adversarial),
          lambda roles: bool(roles.adversarial), _shift_at_ends,
          limits="With four layers the middle is two layers; each shift is one KL estimate "
          "without an error bar."),
    Claim("G3", GAVRIKOV, "Robust first layers have a higher centre fraction.",
          _natural_and_adversarial, _adversarial,
          _statistic_vs_natural(("filters", "first_layer", "centre_fraction"), "centre fraction", +1,
                                "robust first layers have a higher centre fraction")),
)  # fmt: skip


def check_claims(records: Records, roles: Roles) -> list[Finding]:
    return [claim.check(records, roles) for claim in CLAIMS]
