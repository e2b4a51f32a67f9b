"""Threat-model cards: the one home of Linf, L2, L1 and the corruption sets.

The cards are checked against what they describe from outside: RobustBench's published
snapshot names the accuracy field of each of its threat models, a hand-computed distance
bounds every ball, and no module outside the cards (and the dataset cards' eps tables) spells
a threat model's name. A plugin card is registered from an entry point, its package
recorded, and gets a leaderboard view; a clashing one is left out with a warning.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import warnings
from pathlib import Path

import pytest

from freqbench import threat_models
from freqbench.data import get_dataset_info
from freqbench.errors import UnknownNameError, UserError
from freqbench.leaderboard.extract import rank_column, views
from freqbench.metrics import all_metrics, builtin_metrics
from freqbench.threat_models import ThreatModel, bounded_names, get_threat_model

PACKAGE = Path(__file__).resolve().parent.parent / "freqbench"
PUBLISHED = PACKAGE / "published" / "robustbench.json"


def test_builtin_cards():
    names = [card.name for card in threat_models.threat_models()]
    assert names[:5] == ["Linf", "L2", "L1", "corruptions", "corruptions_3d"]
    assert bounded_names()[:3] == ("Linf", "L2", "L1")
    assert get_threat_model("L1").attack_norm == "L1"
    assert not get_threat_model("corruptions").bounded


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="L1"):
        get_threat_model("l1")


def test_accuracy_fields_are_robustbenchs():
    """RobustBench's snapshot names each threat model's accuracy field (its last one)."""
    published = json.loads(PUBLISHED.read_text())["threat_models"]
    for card in threat_models.threat_models():
        if card.robustbench is None:
            continue
        fields = published[card.robustbench]["acc_fields"]
        last = fields[-1] if isinstance(fields, list) else fields
        assert card.accuracy_field == last, card.name


def test_rank_columns_repeat_the_accuracy_field():
    """The column that ranks a card's view is the one whose model_info key the card names."""
    specs = all_metrics()
    for view in views(specs):
        card = get_threat_model(view)
        assert rank_column(view, specs).column.model_info == card.accuracy_field


@pytest.mark.parametrize(
    ("dataset", "name", "eps"),
    [
        ("cifar10", "L1", 12.0),  # Croce and Hein, ICML 2021
        ("cifar100", "L1", 12.0),
        ("imagenet", "L1", 255.0),  # Croce and Hein, ICML 2022
        ("fashion-mnist", "L1", 10.0),
        ("cifar10", "Linf", 8 / 255),
        ("cifar10", "L2", 0.5),
    ],
)
def test_eps_is_the_dataset_cards(dataset, name, eps):
    assert get_threat_model(name).eps(get_dataset_info(dataset)) == pytest.approx(eps)


def test_largest_distance_by_hand():
    info = get_dataset_info("cifar10")  # 3 x 32 x 32 = 3072 values in [0, 1]
    assert get_threat_model("Linf").largest_distance(info) == 1.0
    assert get_threat_model("L2").largest_distance(info) == pytest.approx(math.sqrt(3072))
    assert get_threat_model("L1").largest_distance(info) == pytest.approx(3072)


def _string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


def test_no_module_spells_a_threat_model_out():
    """A threat model's name is a value only in its card and in the dataset cards' eps tables."""
    names = {
        card.name for card in threat_models.BUILTIN if card.bounded
    }  # "corruptions": a metric too
    allowed = {PACKAGE / "threat_models.py"} | set((PACKAGE / "data").glob("*.py"))
    allowed.add(PACKAGE / "findings" / "claims.py")  # claim ids L1, L2: lines of FINDINGS.md
    found = [
        f"{path.relative_to(PACKAGE)}:{line}: {value!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in allowed
        for line, value in _string_constants(path)
        if value in names
    ]
    assert found == []


def _install(site: Path, package: str, module_text: str, entry: str) -> None:
    module = package.replace("-", "_")
    (site / f"{module}.py").write_text(module_text)
    info = site / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[freqbench.threat_models]\n{entry} = {module}:CARD\n")


@pytest.fixture()
def fresh(monkeypatch, tmp_path):
    """A registry that loads again, with the plugins declared in ``tmp_path``."""
    monkeypatch.setattr(threat_models, "THREAT_MODELS", threat_models.THREAT_MODELS.fresh())
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


CARD = """\
import math
from freqbench.threat_models import ThreatModel

CARD = ThreatModel(
    {name!r}, "a plugin's ball", p=math.inf, metric="autoattack", column="autoattack",
    board_title="Plugin robustness", accuracy_field="autoattack_acc", attack_norm="Linf",
)
"""


def test_a_plugin_card_gets_a_view_and_its_package(fresh):
    _install(fresh, "freqbench-tm-wide", CARD.format(name="Wide"), "wide")
    assert get_threat_model("Wide").board_title == "Plugin robustness"
    assert threat_models.source_of("Wide") == "freqbench-tm-wide 0.1"
    assert threat_models.source_of("Linf") is None
    assert "Wide" in bounded_names()
    assert "Wide" in views(builtin_metrics())


def test_a_clashing_plugin_card_is_left_out(fresh):
    _install(fresh, "freqbench-tm-clash", CARD.format(name="Linf"), "linf")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        card = get_threat_model("Linf")
    assert card is threat_models.BUILTIN[0]
    assert any("freqbench-tm-clash 0.1" in str(w.message) for w in caught)


def test_a_ball_without_an_attack_norm_is_refused():
    card = ThreatModel("X", "x", p=1.0, metric="autoattack", column="autoattack",
                       board_title="X", accuracy_field="autoattack_acc")  # fmt: skip
    with pytest.raises(ValueError, match="attack_norm"):
        threat_models.register_threat_model(card)


def _evaluate_args(**given: str | None) -> argparse.Namespace:
    from freqbench.cli import build_parser

    argv = ["evaluate", "--model", "smallcnn"]
    for option, value in given.items():
        argv += [f"--{option.replace('_', '-')}", value]
    return build_parser().parse_args(argv)


def test_threat_model_option_sets_the_norm_or_adds_the_metric():
    from freqbench.cli.evaluate_cmd import apply_threat_model

    args = _evaluate_args(threat_model="L1", metrics="autoattack")
    apply_threat_model(args)
    assert (args.norm, args.metrics) == ("L1", "autoattack")
    args = _evaluate_args(threat_model="corruptions", metrics="clean")
    apply_threat_model(args)
    assert (args.norm, args.metrics) == (None, "clean,corruptions")
    args = _evaluate_args(norm="L2")  # the old option still works alone
    apply_threat_model(args)
    assert args.norm == "L2"


def test_threat_model_and_another_norm_are_refused():
    from freqbench.cli.evaluate_cmd import apply_threat_model

    with pytest.raises(UserError, match="--threat-model L1 and --norm L2"):
        apply_threat_model(_evaluate_args(threat_model="L1", norm="L2"))
    with pytest.raises(UnknownNameError, match="Did you mean: L1"):
        apply_threat_model(_evaluate_args(threat_model="l1"))


@pytest.mark.slow
def test_evaluate_l1_writes_a_record_its_board_shows(
    synthetic_checkpoint, tmp_path, small_budget, capsys
):
    """`freqbench evaluate --threat-model L1 --metrics autoattack`, end to end, then its view."""
    from freqbench.cli import main

    argv = ["evaluate", "--model", str(synthetic_checkpoint), "--dataset", "synthetic",
            "--threat-model", "L1", "--metrics", "autoattack", "--n-examples", "8",
            "--autoattack-n-examples", "8", "--batch-size", "8", "--name", "m",
            "--out", str(tmp_path), "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((tmp_path / "m.json").read_text())
    assert record["protocol"]["norm"] == "L1"
    assert record["protocol"]["eps"] == 12.0  # the synthetic card's L1 eps
    assert record["metrics"]["autoattack"]["norm"] == "L1"
    assert record["model_info"]["threat_model"] == "L1"
    capsys.readouterr()
    argv = ["leaderboard", "--records-dir", str(tmp_path), "--dataset", "synthetic",
            "--threat-model", "L1"]  # fmt: skip
    assert main(argv) == 0
    page = capsys.readouterr().out
    assert "L1 robustness" in page and "| m " in page
    assert main(["leaderboard", "--records-dir", str(tmp_path), "--dataset", "synthetic"]) == 2
    assert "no Linf records for synthetic (it has: 1 L1 records" in capsys.readouterr().err


EXAMPLE = PACKAGE.parent / "examples" / "low-eps-threat-model"


def test_the_example_plugin_is_one_card_and_one_entry_point(fresh):
    """CONTRIBUTING's example, declared as pip would install it: its own radii where the
    dataset cards have none, a view of its own, the protocol's norm and the leaderboard's
    --threat-model take it."""
    entry = (EXAMPLE / "pyproject.toml").read_text().split('"freqbench.threat_models"]\n')[1]
    name, target = (part.strip().strip('"') for part in entry.splitlines()[0].split("="))
    module = (EXAMPLE / "src" / "freqbench_low_eps" / "__init__.py").read_text()
    _install(fresh, "freqbench-low-eps", module, name)
    assert target == "freqbench_low_eps:CARD"
    card = get_threat_model("Linf-low")
    assert threat_models.source_of("Linf-low") == "freqbench-low-eps 0.1"
    assert card.eps(get_dataset_info("cifar10")) == pytest.approx(2 / 255)
    assert card.eps(get_dataset_info("fashion-mnist")) == pytest.approx(0.025)
    assert views(builtin_metrics())[:4] == ("Linf", "Linf-low", "L2", "L1")
