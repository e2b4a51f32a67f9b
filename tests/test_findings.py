"""Findings: verdicts from hand-made records, against hand-computed noise bands and expectations."""

from __future__ import annotations

import copy
import hashlib
import json
import math
from pathlib import Path

import pytest

from freqbench.cli import main
from freqbench.findings import Roles, check_claims, findings_text, roles_from_grid
from freqbench.findings.claims import trade_off
from freqbench.findings.evidence import (
    CONTRADICTS,
    DOES_NOT_HOLD,
    HOLDS,
    NO_DIFFERENCE,
    SUPPORTS,
    UNCLEAR,
    Comparison,
    accuracy_band,
)
from freqbench.grid import load_grid
from freqbench.protocol import Protocol
from freqbench.records import review
from tests.test_leaderboard import CORRUPTIONS, make_record, put

GRID = Path(__file__).resolve().parent.parent / "model_zoo" / "fashion-mnist" / "grid.toml"
RADII = ("4", "7", "11", "14")


def record(
    name: str,
    recipe: str,
    *,
    clean: float = 0.85,
    aa: float = 0.0,
    high: float | dict = 0.10,
    low4: float = 0.60,
    kernel_hf: float = 0.90,
    tail_share: float = 0.40,
    centre: float = 0.13,
    sparsity: float = 0.0,
    orthogonality: float = 0.80,
    shifts: list[float] | None = None,
    noise: float = 0.80,
) -> dict:
    """A record with just the fields the claims read (n = 10000; AutoAttack on 1000)."""
    high = high if isinstance(high, dict) else dict.fromkeys(RADII, high)
    layers = [
        {"name": f"conv{i}", "sparsity": sparsity, "orthogonality": orthogonality} for i in range(4)
    ]
    filters = {
        "first_layer": {"kernel_high_frequency_energy": kernel_hf, "centre_fraction": centre},
        "layers": layers,
    }
    if shifts is not None:
        filters["distribution_shift"] = {
            "layers": [{"distribution_shift": s} for s in shifts],
            "reference": "natural",
        }
    return {
        "name": name,
        "dataset": "fashion-mnist",
        "model": {"recipe": recipe},
        "protocol": {
            "n_examples": 10000,
            "norm": "Linf",
            "eps": 0.1,
            "autoattack_n_examples": 1000,
            "heatmap_n_examples": 1000,
        },
        "metrics": {
            "clean": {"accuracy": clean, "n": 10000},
            "autoattack": {"robust_accuracy": aa, "n": 1000},
            "corruptions": {"per_family": {"noise": noise}},
            "band_split": {
                "high_pass_accuracy": high,
                "low_pass_accuracy": {"4": low4, "7": clean, "11": clean, "14": clean},
            },
            "gradient_spectrum": {"tail_share": tail_share},
            "filters": filters,
        },
    }


def by_key(records: list[dict], roles: Roles) -> dict[str, str]:
    findings = check_claims({r["name"]: r for r in records}, roles)
    return {f.key: f.verdict for f in findings}


def test_accuracy_band_is_two_standard_errors_of_the_difference():
    # 2 * sqrt(0.9 * 0.1 / 10000 + 0.5 * 0.5 / 10000) = 2 * sqrt(3.4e-5)
    assert accuracy_band(0.9, 10000, 0.5, 10000) == pytest.approx(0.0116619, abs=1e-6)
    assert accuracy_band(0.0, 1000, 0.0, 1000) == 0.0


@pytest.mark.parametrize(
    ("value", "reference", "direction", "expected"),
    [(0.50, 0.40, +1, SUPPORTS), (0.30, 0.40, +1, CONTRADICTS), (0.405, 0.40, +1, NO_DIFFERENCE),
     (0.30, 0.40, -1, SUPPORTS), (0.40, 0.40, -1, NO_DIFFERENCE)],
)  # fmt: skip
def test_comparison_outcome_respects_direction_and_band(value, reference, direction, expected):
    assert Comparison("x", value, reference, 0.01, direction).outcome == expected


def test_natural_model_at_chance_on_high_pass_images_does_not_hold_w1():
    # The real smallcnn records show this: 10.00% on every high-pass set (chance is 10%).
    roles = Roles(natural="natural")
    verdicts = by_key([record("natural", "natural", high=0.10, low4=0.60)], roles)
    assert verdicts["W1"] == DOES_NOT_HOLD
    uses_hfc = record("natural", "natural", high={"4": 0.35, "7": 0.2, "11": 0.1, "14": 0.1})
    assert by_key([uses_hfc], roles)["W1"] == HOLDS


def test_wang_claims_on_natural_adversarial_and_smoothed_models():
    natural = record(
        "natural", "natural", clean=0.88, aa=0.0, high={"4": 0.40, "7": 0.20, "11": 0.1, "14": 0.1}
    )
    pgd = record("pgd", "pgd-at", clean=0.77, aa=0.60, high=0.10, kernel_hf=0.60)
    trades = record("trades", "trades", clean=0.75, aa=0.62, high=0.12, kernel_hf=0.95)
    smooth = record("smooth", "natural", clean=0.80, aa=0.0)
    roles = Roles(natural="natural", adversarial=("pgd", "trades"), smoothed=(("smooth", 1.0),))
    verdicts = by_key([natural, pgd, trades, smooth], roles)
    assert verdicts["W2"] == HOLDS  # both lower at r=4 and r=7, the radii above chance
    # pgd-at's kernels are smoother (0.60 < 0.90), trades' are not (0.95 within 5%): mixed.
    assert verdicts["W3"] == UNCLEAR
    # Smoothing lowered clean accuracy but left AutoAttack at 0: the robustness part fails.
    assert verdicts["W4"] == DOES_NOT_HOLD


def test_w2_is_unclear_when_the_natural_model_has_nothing_to_lose():
    roles = Roles(natural="natural", adversarial=("pgd",))
    records = [record("natural", "natural", high=0.10), record("pgd", "pgd-at", high=0.10)]
    finding = next(f for f in check_claims({r["name"]: r for r in records}, roles) if f.key == "W2")
    assert finding.verdict == UNCLEAR
    assert "at chance" in finding.parts[0].unclear_because


def test_trade_off_rule():
    better = Comparison("clean", 0.80, 0.75, 0.01, +1)
    same = Comparison("aa", 0.60, 0.60, 0.01, +1)
    worse = Comparison("aa", 0.50, 0.60, 0.01, +1)
    assert trade_off(better, same) == SUPPORTS
    assert trade_off(better, worse) == NO_DIFFERENCE  # a move along the trade-off
    assert trade_off(Comparison("clean", 0.70, 0.75, 0.01, +1), same) == CONTRADICTS


def test_lin_claims_with_bass_twins():
    records = [
        record("natural", "natural", tail_share=0.40),
        record("pgd", "pgd-at", clean=0.77, aa=0.60, tail_share=0.20),
        record("pgd-b", "pgd-at+bass", clean=0.79, aa=0.60),  # better clean, same robust
        record("trades", "trades", clean=0.75, aa=0.62),
        record("trades-b", "trades+bass", clean=0.74, aa=0.55),  # worse on both
        record("augmix", "augmix", noise=0.80),
        record("augmix-b", "augmix+bass", noise=0.70),
    ]
    roles = Roles(
        natural="natural",
        adversarial=("pgd",),
        bass_twins={"pgd-at": ("pgd", "pgd-b"), "trades": ("trades", "trades-b"),
                    "augmix": ("augmix", "augmix-b")},
    )  # fmt: skip
    findings = {f.key: f for f in check_claims({r["name"]: r for r in records}, roles)}
    verdicts = {key: f.verdict for key, f in findings.items()}
    assert verdicts["L1"] == HOLDS
    assert verdicts["L2"] == UNCLEAR  # pgd-at supports, trades contradicts
    trade = findings["L2"].parts[0]
    assert trade.joint == {"pgd-at+bass vs pgd-at": SUPPORTS, "trades+bass vs trades": CONTRADICTS}
    # Each accuracy keeps its own outcome; the pair is judged on both together. trades+bass:
    # clean -1 pt is within 2 SE (1.23 pt on 10000 images each), AutoAttack -7 pt is beyond
    # 2 SE (4.4 pt on 1000 images each).
    assert [c.outcome for c in trade.comparisons] == [
        SUPPORTS, NO_DIFFERENCE, NO_DIFFERENCE, CONTRADICTS
    ]  # fmt: skip
    assert verdicts["L3"] == DOES_NOT_HOLD


def test_an_autoattack_accuracy_flagged_unreliable_is_named_in_its_comparison():
    flagged = record("pgd-b", "pgd-at+bass", aa=0.70)
    flagged["metrics"]["autoattack"]["unreliable"] = True
    records = {r["name"]: r for r in (record("pgd", "pgd-at", aa=0.60), flagged)}
    roles = Roles(natural="natural", bass_twins={"pgd-at": ("pgd", "pgd-b")})
    (l2,) = [f for f in check_claims(records, roles) if f.key == "L2"]
    labels = [c.label for c in l2.parts[0].comparisons]
    assert labels == [
        "pgd-at+bass vs pgd-at: clean",
        "pgd-at+bass vs pgd-at: AutoAttack (AutoAttack flagged unreliable: pgd-b)",
    ]


def test_gavrikov_claims_and_a_precondition_that_cannot_be_met():
    natural = record("natural", "natural", sparsity=0.0, orthogonality=0.80, centre=0.13)
    pgd = record("pgd", "pgd-at", orthogonality=0.70, centre=0.30, shifts=[3.0, 1.0, 1.2, 2.5])
    roles = Roles(natural="natural", adversarial=("pgd",))
    findings = {f.key: f for f in check_claims({"natural": natural, "pgd": pgd}, roles)}
    sparsity, orthogonality = findings["G1"].parts
    assert sparsity.verdict == UNCLEAR and "nothing to lower" in sparsity.unclear_because
    assert orthogonality.verdict == DOES_NOT_HOLD  # 0.70 < 0.80 in every deeper layer
    assert findings["G1"].verdict == DOES_NOT_HOLD
    assert findings["G2"].verdict == HOLDS  # 3.0 and 2.5 both above the middle's 1.2
    late = record("pgd", "pgd-at", shifts=[3.0, 1.0, 1.2, 0.5])  # the last layer shifts least
    g2 = {f.key: f for f in check_claims({"natural": natural, "pgd": late}, roles)}["G2"]
    assert [p.verdict for p in g2.parts] == [HOLDS, DOES_NOT_HOLD]
    assert g2.verdict == DOES_NOT_HOLD
    assert findings["G3"].verdict == HOLDS
    assert findings["G3"].records == ["natural", "pgd"]


def test_missing_records_are_named_and_partial_verdicts_say_so():
    roles = Roles(natural="natural", adversarial=("pgd", "mart"))
    records = {"natural": record("natural", "natural", centre=0.10)}
    findings = {f.key: f for f in check_claims(records, roles)}
    assert findings["G3"].verdict == UNCLEAR and findings["G3"].missing == ["pgd", "mart"]
    records["pgd"] = record("pgd", "pgd-at", centre=0.30)
    g3 = {f.key: f for f in check_claims(records, roles)}["G3"]
    assert g3.verdict == HOLDS and g3.missing == ["mart"] and g3.records == ["natural", "pgd"]


def test_roles_of_the_reference_grid():
    roles = roles_from_grid(load_grid(GRID))
    assert roles.natural == "smallcnn-natural"
    assert roles.adversarial == (
        "smallcnn-pgd-at", "smallcnn-trades", "smallcnn-mart", "smallcnn-fgsm-rs"
    )  # fmt: skip
    assert roles.smoothed == (
        ("smallcnn-natural-smooth0.25", 0.25),
        ("smallcnn-natural-smooth1", 1.0),
    )
    assert roles.bass_twins["augmix"] == ("smallcnn-augmix", "smallcnn-augmix-bass")
    assert len(roles.bass_twins) == 6


def _deep_update(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` laid over it; a list item over the base's item at that index
    (or its last one), so that partial layers keep the base's other statistics."""
    for key, value in changes.items():
        old = base.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            _deep_update(old, value)
        elif isinstance(value, list) and isinstance(old, list) and old:
            base[key] = [
                _deep_update(copy.deepcopy(old[min(i, len(old) - 1)]), item)
                if isinstance(item, dict) and isinstance(old[-1], dict)
                else item
                for i, item in enumerate(value)
            ]
        else:
            base[key] = value
    return base


def _publish(zoo: Path, records_dir: Path, data: dict) -> None:
    """A zoo entry with weights for ``data``'s row, and ``data`` as its standard record.

    ``data``'s numbers are laid over a complete record (tests.test_leaderboard.make_record)
    so that the record validates; its blocks are keyed as the evaluator keys them under the
    protocol stated in ``data`` (the standard one unless a test changed it), with today's
    metric versions.
    """
    name = data["name"]
    weights = zoo / "weights" / f"{name}.safetensors"
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(name.encode())
    sha = hashlib.sha256(name.encode()).hexdigest()
    (zoo / f"{name}.toml").write_text(
        f'name = "{name}"\ndataset = "fashion-mnist"\narchitecture = "smallcnn"\n'
        f'[weights]\npath = "weights/{name}.safetensors"\nsha256 = "{sha}"\n'
    )
    # The numbers that others are derived from go through make_record, which derives them
    # (AutoAttack's broken points, the corruption means), so that the record proves its counts.
    attack = data["metrics"].get("autoattack", {})
    families = data["metrics"].get("corruptions", {}).get("per_family", {})
    derived = make_record(
        name, recipe=data["model"]["recipe"], sha256=sha,
        autoattack=attack.get("robust_accuracy", 0.3),
        autoattack_n_examples=attack.get("n", 1_000),
        corruptions={family: families.get(family, 0.7) for family in CORRUPTIONS},
    )  # fmt: skip
    full = derived
    _deep_update(full["metrics"], data["metrics"])
    shift = full["metrics"]["filters"].get("distribution_shift")
    if shift is not None:  # the claims read the per-layer shifts; the rest as the metric writes it
        shift["layers"] = [
            {"name": f"conv{i}", "depth": i / 3, "decile": min(9, 3 * i), "n_kernels": 16, **layer}
            for i, layer in enumerate(shift["layers"])
        ]
        shift["first_layer"] = shift["layers"][0]["distribution_shift"]
        shift["deciles"] = [
            {"decile": layer["decile"], "n_layers": 1, "n_kernels": 16,
             "distribution_shift": layer["distribution_shift"]}
            for layer in shift["layers"]
        ]  # fmt: skip
    full["model"]["source"] = f"model_zoo/fashion-mnist/{name}.toml"
    reference = data["metrics"]["filters"].get("distribution_shift", {}).get("reference")
    standard = Protocol.standard().replace(reference=reference).resolve("fashion-mnist")
    resolved = {**standard, **data["protocol"]}
    for metric, block in list(full["metrics"].items()):
        put(full, metric, block, resolved)
    path = records_dir / "fashion-mnist" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(full))
    problems = review(full).problems
    assert problems == [], problems


def test_findings_report_and_cli_check(tmp_path, capsys):
    zoo = tmp_path / "model_zoo" / "fashion-mnist"
    zoo.mkdir(parents=True)
    grid = zoo / "grid.toml"
    grid.write_text(GRID.read_text())
    records_dir = tmp_path / "leaderboards"
    natural = record("smallcnn-natural", "natural", high=0.10)
    pgd = record("smallcnn-pgd-at", "pgd-at", centre=0.5, shifts=[2.0, 1.0, 1.0, 2.0])
    pgd["metrics"]["filters"]["distribution_shift"]["reference"] = "smallcnn-natural"
    for data in (natural, pgd):
        _publish(zoo, records_dir, data)
    text, findings = findings_text(load_grid(grid), records_dir)
    assert "**Verdict: does not hold.**" in text  # W1 on the natural record
    assert "**Verdict: holds (on 2 of 5 records).**" in text  # G3: pgd-at's centre fraction
    assert "`smallcnn-natural`" in text and "not measured yet" in text
    assert "2 of the grid's 14 rows are evaluated" in text
    hfc_vs_chance = findings[0].parts[0].comparisons[0]  # 10% vs 10% on 10000 images each
    assert hfc_vs_chance.band == pytest.approx(2 * math.sqrt(2 * 0.1 * 0.9 / 10000))

    args = ["findings", "--dataset", "fashion-mnist", "--grid", str(grid),
            "--records-dir", str(records_dir)]  # fmt: skip
    assert main([*args, "--check"]) == 1  # not written yet
    assert main(args) == 0
    assert "W1  does not hold" in capsys.readouterr().out
    assert main([*args, "--check"]) == 0

    # A record that is not the row's result (here: another protocol) is left out.
    pgd["protocol"]["autoattack_n_examples"] = pgd["metrics"]["autoattack"]["n"] = 500
    pgd.pop("evaluations", None)
    _publish(zoo, records_dir, pgd)
    text, _ = findings_text(load_grid(grid), records_dir)
    assert "1 of the grid's 14 rows are evaluated" in text
    assert main([*args, "--check"]) == 1
