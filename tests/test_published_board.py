"""Boards that start full: RobustBench's published rows in a table of their own, ranked as
RobustBench ranks, beside what freqbench measured of the same entries (Δ and a flag when the
published figure lies outside the measured 95% interval)."""

from __future__ import annotations

import math

import pytest

from freqbench.cli import main
from freqbench.leaderboard.published_table import published_board, published_table
from freqbench.records import Record


def _record(source: str, clean: float, n: int, attack: dict | None = None) -> Record:
    metrics = {"clean": {"accuracy": clean, "n": n}}
    if attack is not None:
        metrics["autoattack"] = attack
    return Record({"model": {"source": source}, "metrics": metrics})


def _hand_wilson(p: float, n: int) -> tuple[float, float]:
    z = 1.959963984540054
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_rows_follow_robustbench_order_best_known_first():
    board = published_board("cifar10", "L2")
    assert len(board) == 21
    # by hand from the snapshot's files: "external" where published, else autoattack_acc
    keys = [float(e.raw.get("external") or e.raw["autoattack_acc"]) for e in board]
    assert keys == sorted(keys, reverse=True)
    assert board[0].name == "Wang2023Better_WRN-70-16"  # 84.97
    assert board[1].name == "Amini2024MeanSparse_S-WRN-70-16"  # 87.28 AutoAttack, 84.33 external
    assert published_board("fashion-mnist", "Linf") == []  # RobustBench has no such board


def test_measured_rows_show_delta_and_flag_outside_the_interval():
    # Standard on cifar10 L2: published 94.78 clean, 0.00 AutoAttack at eps 0.5
    attack = {"robust_accuracy": 0.0, "n": 1000, "norm": "L2", "eps": 0.5}
    agree = _record("robustbench:cifar10/L2/Standard", 0.9478, 10_000, attack)
    table = published_table("cifar10", "L2", [agree])
    row = table.frame.set_index("model").loc["Standard"]
    assert row["clean"] == pytest.approx(94.78)
    assert row["clean_delta"] == pytest.approx(0.0, abs=1e-9)
    low, high = _hand_wilson(0.9478, 10_000)
    assert (row["clean_low"], row["clean_high"]) == pytest.approx((100 * low, 100 * high))
    assert row["robust"] == 0.0 and row["check"] == ""
    assert "1 measured here" in table.title

    off = _record("robustbench:cifar10/L2/Standard", 0.90, 10_000)
    row = published_table("cifar10", "L2", [off]).frame.set_index("model").loc["Standard"]
    assert row["clean_delta"] == pytest.approx(90.0 - 94.78)
    low, high = _hand_wilson(0.90, 10_000)
    assert row["check"] == f"! clean 94.78 published, outside [{100 * low:.2f}, {100 * high:.2f}]"


def test_an_attack_at_another_eps_or_board_is_not_compared():
    other_eps = {"robust_accuracy": 0.5, "n": 100, "norm": "L2", "eps": 0.25}
    record = _record("robustbench:cifar10/L2/Standard", 0.95, 100, other_eps)
    row = published_table("cifar10", "L2", [record]).frame.set_index("model").loc["Standard"]
    assert math.isnan(row["robust"])
    linf_record = _record("robustbench:cifar10/Linf/Standard", 0.95, 100)
    table = published_table("cifar10", "L2", [linf_record])
    assert table.frame["clean"].isna().all()  # a Linf entry is another board's


def test_an_empty_published_board_folder_prints_robustbench_rows(tmp_path, capsys):
    folder = tmp_path / "cifar100"
    folder.mkdir()
    (folder / "leaderboard.toml").write_text('metrics = ["clean", "autoattack"]\n')
    argv = ["leaderboard", "--dataset", "cifar100", "--records-dir", str(tmp_path)]
    assert main([*argv, "--table", "published"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 38  # header, rule, one row per published entry
    assert main(argv) == 0
    assert "Published on RobustBench (cifar100, Linf): 38 entries, 0 measured here" in (
        capsys.readouterr().out
    )
    assert main([*argv, "--write"]) == 0
    page = (folder / "README.md").read_text()
    assert "No freqbench records for this view yet" in page
    assert "`freqbench zoo run --dataset cifar100 --threat-model Linf`" in page
    assert main(["leaderboard", "--check", "--records-dir", str(tmp_path)]) == 0


def test_a_corruption_board_shows_the_measured_mean_without_a_flag():
    entry = published_board("cifar10", "corruptions")[0]
    record = Record(
        {
            "model": {"source": f"robustbench:cifar10/corruptions/{entry.name}"},
            "metrics": {"corruptions": {"mean": 0.5, "n": 100}},
        }
    )
    row = published_table("cifar10", "corruptions", [record]).frame.iloc[0]
    assert row["model"] == entry.name
    assert row["robust"] == pytest.approx(50.0)
    assert row["robust_delta"] == pytest.approx(50.0 - entry.robust_acc)
    assert row["check"] == ""
