"""Leaderboard tables from records written here: ranking, BaSS deltas, correlations, outputs.

:func:`make_record` builds a complete record in the evaluator's format; the other leaderboard
and validation tests import it from here.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from freqbench.cli import main
from freqbench.errors import UnknownNameError, UserError
from freqbench.filter_stats import STAT_KEYS
from freqbench.leaderboard import build_leaderboard, render_view
from freqbench.leaderboard.correlation import spearman
from freqbench.leaderboard.intervals import rank_groups, wilson
from freqbench.leaderboard.markdown import table_markdown
from freqbench.metrics import get_metric
from freqbench.protocol import block_key
from freqbench.records import Record, load_records, model_id, record_problems
from freqbench.records.builder import (
    evaluation_entry,
    new_record,
    put_block,
    restate,
    stored_protocol,
)

CORRUPTIONS = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}


VERSIONS = {"freqbench": "0.1.0", "torch": "2.13.0", "numpy": "2.3.0", "python": "3.11.2"}
#: The part of ``model_info`` that the model's metadata gives (the rest follows the blocks).
LISTED = ("name", "authors", "architecture", "dataset", "additional_data",
          "number_forward_passes", "venue", "link", "footnote")  # fmt: skip


def _stats(seed: float) -> dict[str, float]:
    return {key: round(0.1 + 0.05 * i + seed, 4) for i, key in enumerate(STAT_KEYS)}


def make_record(
    name: str,
    *,
    dataset: str = "fashion-mnist",
    architecture: str = "smallcnn",
    recipe: str | None = "pgd-at",
    bass_mode: str | None = None,
    clean: float = 0.9,
    autoattack: float | None = 0.3,
    corruptions: dict[str, float] | None = None,
    tail_share: float = 0.3,
    sparsity: float = 0.1,
    norm: str = "Linf",
    eps: float = 0.1,
    n_examples: int = 10_000,
    autoattack_n_examples: int = 1_000,
    unreliable: bool = False,
    sha256: str | None = "",
    transform: dict[str, Any] | None = None,
    venue: str = "",
    artifacts: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A record as the evaluator writes it. ``corruptions`` maps family -> accuracy (one value
    per family, shared by its corruptions and severities; 0.7 for all by default); the
    checkpoint's sha256 is the name's unless given (each name is another model)."""
    if sha256 == "":
        sha256 = hashlib.sha256(name.encode()).hexdigest()
    families = corruptions if corruptions is not None else {f: 0.7 for f in CORRUPTIONS}
    per_corruption = {c: families[f] for f, names in CORRUPTIONS.items() for c in names}
    mean = float(np.mean([v for v in per_corruption.values()]))
    first = {"name": "features.0", "out": 16, "in": 1, "k": 3, "n_kernels": 16, **_stats(0.0)}
    first["sparsity"] = sparsity
    blocks: dict[str, Any] = {
        "clean": {"accuracy": clean, "n": n_examples},
        "corruptions": {
            "mean": mean,
            "per_corruption": per_corruption,
            "per_family": dict(families),
            "cells": {c: [v] * 5 for c, v in per_corruption.items()},
            "source": "generated",
            "frost_procedural": False,
            "n": n_examples,
        },
        "band_split": {
            "radii": [4, 7, 11, 14],
            "headline_radius": 7,
            "low_pass_accuracy": {"4": 0.2, "7": round(clean - 0.2, 4), "11": 0.7, "14": 0.8},
            "high_pass_accuracy": {"4": 0.3, "7": round(0.5 * clean, 4), "11": 0.1, "14": 0.1},
            "n": n_examples,
        },
        "long_tail": {"q": 0.8, "mean_r80": 5.1, "head_accuracy": 0.6, "tail_accuracy": 0.2,
                      "n": n_examples},
        "gradient_spectrum": {"tail_share": tail_share, "entropy": 0.8,
                              "mean_radius_top": {"1": 9.1, "20": 7.2, "50": 6.0}, "n": n_examples},
        "fourier_heatmap": {"eps": 3.5, "n": 1000, "bands": {"low": 0.1, "middle": 0.3, "high": 0.5}},
        "filters": {
            "first_layer": first,
            "deciles": [{"decile": 0, "n_layers": 1, "n_kernels": 16, **_stats(0.0)}],
            "layers": [{**first, "depth": 0.0, "decile": 0}],
        },
    }  # fmt: skip
    if autoattack is not None:
        blocks["autoattack"] = {
            "robust_accuracy": autoattack,
            "clean_accuracy": clean,
            "n": autoattack_n_examples,
            "norm": norm,
            "eps": eps,
            "version": "standard",
            "broken_by": {  # the clean points that are not robust
                "apgd-ce": round(clean * autoattack_n_examples)
                - round(autoattack * autoattack_n_examples),
                "apgd-t": 0,
                "fab-t": 0,
                "square": 0,
            },
            "warnings": [],
            "unreliable": unreliable,
        }
    model = {
        "source": f"model_zoo/{dataset}/{name}.toml",
        "architecture": architecture,
        "recipe": recipe,
        "bass_mode": bass_mode,
        "checkpoint_sha256": sha256,
        "parameters": 435370,
        "transform": transform,
    }
    protocol = {
        "norm": norm, "eps": eps, "n_examples": n_examples, "seed": 0, "batch_size": 500,
        "shards": 1, "autoattack_n_examples": autoattack_n_examples,
        "corruptions_n_examples": n_examples, "corruptions_source": "generated", "q": 0.8,
        "heatmap_n_examples": 1000,
        "heatmap_eps": 3.5 if dataset.startswith("fashion-mnist") else 4.0,  # 4 H / 32
        "heatmap_band_limit": 0, "reference": None,
    }  # fmt: skip
    listed = {
        "name": name, "authors": "", "architecture": architecture, "dataset": dataset,
        "additional_data": False, "number_forward_passes": 1, "venue": venue, "link": "",
        "footnote": None,
    }  # fmt: skip
    record = new_record(model, name, dataset)
    for metric, block in blocks.items():
        _put(record, metric, block, protocol)
    restate(record, model, protocol, listed)
    record["artifacts"] = dict(artifacts or {})
    return record


def _put(
    record: dict[str, Any], metric: str, block: dict[str, Any], protocol: Mapping[str, Any]
) -> None:
    spec = get_metric(metric)
    key = block_key(model_id(record), record["dataset"], spec, protocol)
    evaluation = evaluation_entry(
        spec.version, key, [(0.0, 1.0)], device="cpu", versions=VERSIONS, executor="local",
        threads=1,
    )  # fmt: skip
    put_block(record, metric, block, evaluation)


def put(
    record: dict[str, Any],
    metric: str,
    block: dict[str, Any],
    protocol: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``record`` with ``metric``'s block put in (or replaced) as the evaluator puts one: keyed
    under ``protocol`` (the record's own by default) with today's metric version, then the
    protocol and ``model_info`` made to follow the blocks."""
    protocol = dict(protocol if protocol is not None else stored_protocol(record))
    _put(record, metric, block, protocol)
    listed = {k: v for k, v in record["model_info"].items() if k in LISTED}
    restate(record, record["model"], protocol, listed)
    return record


def write_records(records_dir: Path, records: list[dict[str, Any]]) -> Path:
    """Write each record to ``<records_dir>/<dataset>/<name>.json``; returns ``records_dir``."""
    for record in records:
        path = records_dir / record["dataset"] / f"{record['name']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2))
    return records_dir


#: A training config as checkpoint sidecars state it (the BaSS table pairs on it).
TRAINING = {"epochs": 1, "batch_size": 64, "lr": 0.05, "seed": 0, "recipe_options": {}}


def as_records(*data: dict[str, Any], training: dict[str, dict] | None = None) -> list[Record]:
    """Records as the reader loads them, told how their models were trained (TRAINING, or
    ``training[name]``; None: not known)."""
    training = training or {}
    records = []
    for d in data:
        record = copy.deepcopy(d)
        record["model"]["training"] = training.get(
            d["name"], {**TRAINING, "recipe": d["model"]["recipe"]}
        )
        records.append(Record(record))
    return records


def parse_markdown_table(text: str) -> list[dict[str, str]]:
    """The first GitHub-style table in ``text`` as {header: cell} rows (an independent reader)."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    split = [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in lines]
    header, rows = split[0], split[2:]
    end = next((i for i, row in enumerate(rows) if len(row) != len(header)), len(rows))
    return [dict(zip(header, row, strict=True)) for row in rows[:end]]


Z = 1.959963984540054  # the 0.975 quantile of the standard normal


def hand_wilson(p: float, n: int) -> tuple[float, float]:
    """The Wilson interval as the two roots in q of (p - q)^2 = z^2 q (1 - q) / n, a quadratic
    a q^2 + b q + c = 0 solved here with numpy rather than with the closed form."""
    k = Z * Z / n
    low, high = sorted(np.roots([1 + k, -(2 * p + k), p * p]).real)
    return max(0.0, float(low)), min(1.0, float(high))


def parse_plus_minus(cell: str) -> tuple[float, float]:
    """``"81.43 ±0.76"`` -> (81.43, 0.76)."""
    value, side = cell.split(" ±")
    return float(value), float(side)


def test_hand_wilson_agrees_with_published_values():
    # Newcombe (1998), Table I: 81/263 -> 0.2553 to 0.3662; 15/148 -> 0.0624 to 0.1605;
    # 0/10 -> 0 to 0.2775.
    for k, n, low, high in ((81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605),
                            (0, 10, 0.0, 0.2775)):  # fmt: skip
        assert hand_wilson(k / n, n) == pytest.approx((low, high), abs=1e-4)


@pytest.mark.parametrize(
    ("p", "n"), [(0.5, 100), (0.0, 1000), (1.0, 50), (0.724, 1000), (0.8143, 10_000), (0.001, 1000)]
)
def test_wilson_interval_matches_the_hand_computation(p, n):
    assert wilson(p, n) == pytest.approx(hand_wilson(p, n), abs=1e-12)


def test_wilson_interval_refuses_what_it_cannot_mean():
    with pytest.raises(ValueError, match="at least one image"):
        wilson(0.5, 0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        wilson(1.2, 10)


def loop_rank_groups(intervals: list[tuple[float, float] | None]) -> list[int | None]:
    """The rank-group rule as a plain loop over (low, high) pairs in rank order."""
    out: list[int | None] = []
    group, first = 0, None
    for pair in intervals:
        if pair is None:
            out.append(None)
            continue
        if first is None or pair[1] < first[0] or first[1] < pair[0]:
            group, first = group + 1, pair
        out.append(group)
    return out


def test_rank_groups_follow_the_first_row_of_each_group():
    # b overlaps a; c overlaps b but not a, so c opens group 2 (chaining does not join it).
    a, b, c, d = (0.60, 0.70), (0.58, 0.66), (0.50, 0.59), (0.10, 0.20)
    assert rank_groups([a, b, c, None, d]) == [1, 1, 2, None, 3]
    assert rank_groups([]) == []
    assert rank_groups([(0.3, 0.4), (0.4, 0.5)]) == [1, 1]  # touching intervals overlap
    rng = np.random.default_rng(1)
    for _ in range(200):
        centres = np.sort(rng.random(int(rng.integers(1, 12))))[::-1]
        halves = rng.random(len(centres)) * 0.15
        pairs = [(float(c - h), float(c + h)) for c, h in zip(centres, halves, strict=True)]
        pairs = [None if rng.random() < 0.1 else p for p in pairs]
        assert rank_groups(pairs) == loop_rank_groups(pairs)


def test_helper_records_satisfy_the_schema():
    assert record_problems(make_record("a")) == []
    assert record_problems(make_record("b", autoattack=None, norm="L2", eps=1.5)) == []


def test_ranked_by_autoattack_then_clean():
    boards = as_records(
        make_record("weak", autoattack=0.10, clean=0.95),
        make_record("tie-low-clean", autoattack=0.45, clean=0.80),
        make_record("no-attack", autoattack=None, clean=0.99),
        make_record("tie-high-clean", autoattack=0.45, clean=0.85),
    )
    main_table = build_leaderboard(boards, "fashion-mnist").main
    assert list(main_table.frame["model"]) == [
        "tie-high-clean",
        "tie-low-clean",
        "weak",
        "no-attack",
    ]
    assert list(main_table.frame["rank"]) == [1, 2, 3, 4]


def test_markdown_parses_back_to_the_record_numbers():
    data = [
        make_record("a", clean=0.9012, autoattack=0.3456, tail_share=0.3141, sparsity=0.0625),
        make_record("b", clean=0.8123, autoattack=0.4001, tail_share=0.2718, sparsity=0.125),
    ]
    text = render_view(build_leaderboard(as_records(*data), "fashion-mnist"), "md")
    rows = {row["Model"]: row for row in parse_markdown_table(text)}
    for record in data:
        row, m = rows[record["name"]], record["metrics"]
        for title, p, n in (
            ("Clean", m["clean"]["accuracy"], m["clean"]["n"]),
            ("AutoAttack", m["autoattack"]["robust_accuracy"], m["autoattack"]["n"]),
            ("Corruptions", m["corruptions"]["mean"], m["corruptions"]["n"]),
        ):
            value, side = parse_plus_minus(row[title])
            assert value == round(100 * p, 2)
            low, high = hand_wilson(p, n)
            assert side == round(100 * max(p - low, high - p), 2)
        assert float(row["LFC (r=7)"]) == round(100 * m["band_split"]["low_pass_accuracy"]["7"], 2)
        assert float(row["HFC (r=7)"]) == round(100 * m["band_split"]["high_pass_accuracy"]["7"], 2)
        assert float(row["Grad. tail share"]) == round(m["gradient_spectrum"]["tail_share"], 3)
        assert float(row["Sparsity"]) == round(m["filters"]["first_layer"]["sparsity"], 3)
        fl = m["filters"]["first_layer"]
        assert float(row["Orthogonality"]) == round(fl["orthogonality"], 3)
    assert [row["Model"] for row in parse_markdown_table(text)] == ["b", "a"]


def test_bass_deltas():
    fam = dict.fromkeys(CORRUPTIONS, 0.7)
    data = [
        make_record("nat", recipe="natural", clean=0.90, autoattack=0.00, tail_share=0.40,
                    corruptions=fam),
        make_record(
            "nat-bass", recipe="natural+bass", bass_mode="augment", clean=0.88, autoattack=0.02,
            tail_share=0.25, corruptions={**fam, "noise": 0.8, "blur": 0.75},
        ),
        make_record("trades", recipe="trades", clean=0.80, autoattack=0.40, tail_share=0.30),
        make_record("trades-bass", recipe="trades+bass", bass_mode="dataset", clean=0.79, autoattack=0.42, tail_share=0.20),
        make_record("wrn-bass", architecture="wrn-16-4", recipe="trades+bass", bass_mode="augment"),
    ]  # fmt: skip
    bass = build_leaderboard(as_records(*data), "fashion-mnist").bass.frame
    assert list(zip(bass["base"], bass["with_bass"], strict=True)) == [
        ("nat", "nat-bass"),
        ("trades", "trades-bass"),
    ]  # wrn-bass has no plain twin of its architecture
    nat = bass.iloc[0]
    assert nat["d_clean"] == pytest.approx(-2.0)
    assert nat["d_autoattack"] == pytest.approx(2.0)
    assert nat["d_noise"] == pytest.approx(10.0) and nat["d_blur"] == pytest.approx(5.0)
    assert nat["d_weather"] == pytest.approx(0.0)
    expected_mean = (3 * 0.1 + 4 * 0.05) / 15 * 100  # 3 noise and 4 blur corruptions moved
    assert nat["d_corruptions"] == pytest.approx(expected_mean)
    assert nat["d_tail_share"] == pytest.approx(-0.15)
    assert bass.iloc[1]["bass_mode"] == "dataset"
    assert bass.iloc[1]["d_autoattack"] == pytest.approx(2.0)


def test_bass_twins_must_share_the_training_config():
    data = [
        make_record("nat", recipe="natural", clean=0.90),
        make_record("nat-long", recipe="natural", clean=0.91),
        make_record("nat-bass", recipe="natural+bass", bass_mode="augment", clean=0.88),
        make_record("nat-unknown", recipe="natural", clean=0.9),
    ]  # fmt: skip
    training = {
        "nat-long": {**TRAINING, "epochs": 10, "recipe": "natural"},  # trained longer
        "nat-bass": {
            **TRAINING,
            "recipe": "natural+bass",
            "bass_mode": "augment",
            "bass_p": 0.5,
            "device": "cuda",
            "eval_examples": 100,
        },
        "nat-unknown": None,
    }
    board = build_leaderboard(as_records(*data, training=training), "fashion-mnist")
    assert list(zip(board.bass.frame["base"], board.bass.frame["with_bass"], strict=True)) == [
        ("nat", "nat-bass")
    ]  # BaSS, the device and the logged test images may differ; the epochs may not
    assert board.bass.notes[-1] == (
        "Not paired (no twin trained with the same config apart from BaSS, or a training "
        "config the record does not state): nat-long (natural), nat-unknown (natural)."
    )


def _hand_spearman(x: list[float], y: list[float]) -> float:
    """Pearson correlation of average ranks, written out."""
    rx, ry = pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy()
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / math.sqrt((rx**2).sum() * (ry**2).sum()))


def test_spearman_matches_an_independent_computation():
    aa = [0.05, 0.30, 0.42, 0.10, 0.38, 0.25]
    tail = [0.41, 0.22, 0.18, 0.41, 0.20, 0.33]  # a tie, and a mostly falling relation
    sparsity = [0.5, 0.1, 0.0, 0.3, 0.05, 0.2]
    data = [
        make_record(f"m{i}", autoattack=a, tail_share=t, sparsity=s)
        for i, (a, t, s) in enumerate(zip(aa, tail, sparsity, strict=True))
    ]
    frame = build_leaderboard(as_records(*data), "fashion-mnist").correlation.frame.set_index(
        "metric"
    )
    expected = stats.spearmanr(tail, aa).statistic
    assert frame.loc["Grad. tail share", "rho_autoattack"] == pytest.approx(expected)
    assert frame.loc["Grad. tail share", "rho_autoattack"] == pytest.approx(
        _hand_spearman(tail, aa)
    )
    assert frame.loc["Sparsity", "rho_autoattack"] == pytest.approx(_hand_spearman(sparsity, aa))
    assert frame.loc["Grad. tail share", "n_autoattack"] == 6
    assert math.isnan(frame.loc["Grad. entropy", "rho_autoattack"])  # constant in every record


def test_spearman_needs_three_models():
    rho, n = spearman([0.1, 0.2, None], [0.3, 0.1, 0.5])
    assert math.isnan(rho) and n == 2
    assert spearman([1, 2, 3], [3, 2, 1]) == (pytest.approx(-1.0), 3)


def test_only_standard_rows_are_ranked_the_others_have_their_own_table():
    data = [
        make_record("full", autoattack=0.30),
        make_record("small", autoattack=0.50, n_examples=500, autoattack_n_examples=100),
        make_record("weak", clean=0.34, autoattack=0.90, autoattack_n_examples=200),
        make_record("small-bass", recipe="pgd-at+bass", bass_mode="augment", autoattack=0.2),
        make_record("flaky", autoattack=0.60, unreliable=True),
    ]
    board = build_leaderboard(as_records(*data), "fashion-mnist")
    main = board.main.frame
    assert list(main["model"]) == ["flaky", "full", "small-bass"]
    assert list(main["rank"]) == [1, 2, 3]
    assert dict(zip(main["model"], main["notes"], strict=True))["flaky"] == "unreliable"
    assert "why" not in main.columns
    legend = " ".join(board.main.notes)
    assert "2 more models are listed under “Not ranked”, each with why" in legend

    off = board.table("unranked")
    assert [t.key for t in board.tables] == ["main", "unranked", "bass", "correlation"]
    assert off.title == "Not ranked"
    keys = [c.key for c in off.columns]
    assert "rank" not in keys and "group" not in keys
    assert keys[:2] == ["model", "why"]  # beside the name, not past the page's edge
    assert [k for k in keys if k not in ("why",)] == [
        c.key for c in board.main.columns if c.key not in ("rank", "group")
    ]
    assert list(off.frame["model"]) == ["weak", "small"]  # by AutoAttack, unranked
    deviation = dict(zip(off.frame["model"], off.frame["why"], strict=True))
    assert deviation["small"] == (
        "n_examples 500 (standard >= 10000); autoattack_n_examples 100 (standard >= 1000); "
        "corruptions_n_examples 500 (standard >= 10000)"
    )
    assert deviation["weak"] == "autoattack_n_examples 200 (standard >= 1000)"
    assert off.notes[0].startswith("Not ranked, for the reason each row gives")

    text = render_view(board, "md")
    assert text.index("## Linf robustness") < text.index("### Not ranked")
    assert text.index("### Not ranked") < text.index("### What BaSS changes")
    rows = parse_markdown_table(text.split("### Not ranked")[1])
    assert [(r["Model"], r["Why not ranked"]) for r in rows] == [
        ("weak", deviation["weak"]),
        ("small", deviation["small"]),
    ]
    assert [r["Model"] for r in parse_markdown_table(text)] == ["flaky", "full", "small-bass"]
    csv = pd.read_csv(io.StringIO(render_view(board, "csv", "unranked")))
    assert list(csv["Model"]) == ["weak", "small"] and "Rank" not in csv.columns
    assert list(csv["AutoAttack n"]) == [200, 100]

    bass_notes = dict(zip(board.bass.frame["base"], board.bass.frame["notes"], strict=True))
    assert bass_notes == {
        "flaky": "",
        "full": "",
        "small": "no Δ Clean: n_examples 500 vs 10000; no Δ AutoAttack: autoattack_n_examples "
        "100 vs 1000; no Δ Corruptions: corruptions_n_examples 500 vs 10000; no Δ Grad. tail "
        "share: n_examples 500 vs 10000",
        "weak": "no Δ AutoAttack: autoattack_n_examples 200 vs 1000",
    }
    # Like with like: no delta across protocols, the others as usual.
    weak = board.bass.frame.set_index("base").loc["weak"]
    assert pd.isna(weak["d_autoattack"]) and not pd.isna(weak["d_clean"])
    cifar = make_record(
        "c", dataset="cifar10", eps=0.03, n_examples=10_000, autoattack_n_examples=10_000
    )
    alone = build_leaderboard(as_records(cifar), "cifar10")
    assert alone.main.frame.empty
    with pytest.raises(UserError, match="main table is empty; the 1 other is in --table unranked"):
        render_view(alone, "csv")  # not a header and nothing else
    assert "c" in render_view(alone, "csv", "unranked")
    assert "No model here is ranked" in table_markdown(alone.main)
    assert list(alone.unranked.frame["why"]) == ["eps 0.03 (standard 8/255)"]


def test_intervals_and_rank_groups_in_every_format():
    aa = [0.72, 0.70, 0.66, 0.65, 0.10]
    data = [make_record(f"m{i}", autoattack=a, clean=0.9 - 0.01 * i) for i, a in enumerate(aa)]
    data[0]["metrics"]["corruptions"]["n"] = 2000  # images corrupted: the count, not 75 x it
    board = build_leaderboard(as_records(*data), "fashion-mnist")
    frame = board.main.frame
    hand = [hand_wilson(a, 1000) for a in aa]
    # m2's interval overlaps m1's but not m0's, the first of the group: it opens group 2.
    assert hand[2][1] < hand[0][0] and hand[2][1] >= hand[1][0]
    assert list(frame["group"]) == [1, 1, 2, 2, 3]
    assert [c.key for c in board.main.columns][:3] == ["rank", "group", "model"]

    csv = pd.read_csv(io.StringIO(render_view(board, "csv")))
    assert list(csv["Group"]) == [1, 1, 2, 2, 3]
    for i, (low, high) in enumerate(hand):
        assert csv.loc[i, "AutoAttack"] == round(100 * aa[i], 2)
        assert csv.loc[i, "AutoAttack 95% low"] == round(100 * low, 2)
        assert csv.loc[i, "AutoAttack 95% high"] == round(100 * high, 2)
        assert csv.loc[i, "AutoAttack n"] == 1000 and csv.loc[i, "Clean n"] == 10_000
    low, high = hand_wilson(0.7, 2000)
    assert csv.loc[0, "Corruptions n"] == 2000 and csv.loc[1, "Corruptions n"] == 10_000
    assert csv.loc[0, "Corruptions 95% low"] == round(100 * low, 2)
    assert csv.loc[0, "Corruptions 95% high"] == round(100 * high, 2)

    rows = parse_markdown_table(render_view(board, "md"))
    assert [r["Group"] for r in rows] == ["1", "1", "2", "2", "3"]
    assert parse_plus_minus(rows[0]["Corruptions"]) == (70.0, round(100 * (0.7 - low), 2))
    assert parse_plus_minus(rows[4]["AutoAttack"])[1] == round(100 * (hand[4][1] - 0.1), 2)
    assert rows[0]["LFC (r=7)"] == "70.00"  # no count declared: no interval
    legend = "\n".join(board.main.notes)
    assert "Clean, AutoAttack and Corruptions: ± is the larger side of the 95% Wilson" in legend
    assert "not 75 n" in legend and "Group: rank groups of AutoAttack" in legend

    html = render_view(board, "html")
    low, high = hand[0]
    assert (
        f'title="95% interval {100 * low:.2f} to {100 * high:.2f} (Wilson, n = 1000 images)"'
        in html
    )
    assert '<span class="pm">±' in html

    by_clean = build_leaderboard(as_records(*data), "fashion-mnist", sort_by="clean").main.frame
    assert list(by_clean["model"]) == [f"m{i}" for i in range(5)]
    resorted = build_leaderboard(as_records(*data), "fashion-mnist", sort_by="group").main.frame
    assert list(resorted["group"]) == [1, 1, 2, 2, 3]
    by_corruption = build_leaderboard(as_records(*data), "fashion-mnist", "corruptions")
    assert list(by_corruption.main.frame["group"]) == [1] * 5  # 70% for every model


def test_a_plugin_accuracy_column_gets_an_interval_from_its_declaration(monkeypatch):
    from freqbench.metrics import Column, MetricSpec, Presentation, registry

    registry.all_metrics()  # the built-ins first
    toy = MetricSpec(
        name="toy",
        description="a plugin's accuracy",
        version="1",
        compute="toy:compute",
        images=None,
        presentation=Presentation(columns=(
            Column("toy", "Toy acc.", "toy accuracy", ("accuracy",), percent=True, main=True,
                   count=("images",)),
            Column("toy_plain", "Toy plain", "no count", ("accuracy",), percent=True, main=True),
        )),
    order=5000,
    )  # fmt: skip
    monkeypatch.setattr(registry, "METRICS", registry.METRICS.fresh())
    registry.register_metric(toy)
    record = make_record("a")
    put(record, "toy", {"accuracy": 0.25, "images": 400})
    records = as_records(record, make_record("b"))
    installed = build_leaderboard(records, "fashion-mnist")  # the board lists built-ins only
    assert "Toy" not in render_view(installed, "md")
    specs = [*registry.builtin_metrics(), toy]  # as a leaderboard.toml that names it says
    board = build_leaderboard(records, "fashion-mnist", specs=specs)
    row = parse_markdown_table(render_view(board, "md"))[0]
    low, high = hand_wilson(0.25, 400)
    assert parse_plus_minus(row["Toy acc."]) == (25.0, round(100 * max(0.25 - low, high - 0.25), 2))
    assert row["Toy plain"] == "25.00"
    assert "Clean, AutoAttack, Corruptions and Toy acc.: ±" in "\n".join(board.main.notes)
    csv = pd.read_csv(io.StringIO(render_view(board, "csv")))
    assert csv.loc[0, "Toy acc. n"] == 400 and pd.isna(csv.loc[1, "Toy acc. n"])


def test_every_row_standard_leaves_the_second_table_out():
    board = build_leaderboard(as_records(make_record("a"), make_record("b")), "fashion-mnist")
    assert board.unranked is None
    assert [t.key for t in board.tables] == ["main", "bass", "correlation"]
    assert "Not ranked" not in render_view(board, "md")
    assert "differs from the standard" not in " ".join(board.main.notes)
    with pytest.raises(UserError, match="there is no unranked table"):
        render_view(board, "csv", "unranked")


def test_a_first_version_corruption_block_is_marked_procedural_frost():
    old = make_record("old")
    old["metrics"]["corruptions"]["frost_procedural"] = True  # version 1 blended a texture
    board = build_leaderboard(as_records(old, make_record("new")), "fashion-mnist")
    notes = dict(zip(board.main.frame["model"], board.main.frame["notes"], strict=True))
    assert notes == {"old": "procedural frost", "new": ""}
    assert any(
        n.startswith("procedural frost: frost blended a procedural") for n in board.main.notes
    )


def test_threat_model_views():
    data = [
        make_record("linf-a", autoattack=0.3, corruptions=dict.fromkeys(CORRUPTIONS, 0.5)),
        make_record("l2-a", norm="L2", eps=1.5, autoattack=0.6, corruptions=dict.fromkeys(CORRUPTIONS, 0.8)),
        make_record("linf-b", autoattack=0.4, corruptions=dict.fromkeys(CORRUPTIONS, 0.6)),
    ]  # fmt: skip
    records = as_records(*data)
    assert list(build_leaderboard(records, "fashion-mnist", "L2").main.frame["model"]) == ["l2-a"]
    by_corruption = build_leaderboard(records, "fashion-mnist", "corruptions")
    assert list(by_corruption.main.frame["model"]) == ["l2-a", "linf-b", "linf-a"]
    assert by_corruption.bass is None and by_corruption.correlation is None
    with pytest.raises(UserError, match="no L2 records for fashion-mnist"):
        build_leaderboard(as_records(data[0]), "fashion-mnist", "L2")


def test_sort_by_reorders_and_keeps_ranks():
    data = [
        make_record("a", clean=0.7, autoattack=0.5),
        make_record("b", clean=0.9, autoattack=0.1),
    ]
    main_table = build_leaderboard(as_records(*data), "fashion-mnist", sort_by="clean").main
    assert list(main_table.frame["model"]) == ["b", "a"] and list(main_table.frame["rank"]) == [
        2,
        1,
    ]
    with pytest.raises(UnknownNameError, match="Did you mean: clean"):
        build_leaderboard(as_records(*data), "fashion-mnist", sort_by="claen")


def test_csv_rounds_as_the_tables_show_and_latex_escapes():
    data = [make_record("under_score", clean=0.912345, autoattack=0.3, tail_share=0.3456789)]
    board = build_leaderboard(as_records(*data), "fashion-mnist")
    text = render_view(board, "csv")
    frame = pd.read_csv(io.StringIO(text))
    assert frame.loc[0, "Clean"] == 91.23  # as Markdown shows it; the record keeps 0.912345
    assert frame.loc[0, "Grad. tail share"] == 0.346
    assert "91.2345" not in text
    latex = render_view(board, "latex")
    assert "\\toprule" in latex and "under\\_score" in latex and "91.23" in latex
    bass = pd.read_csv(io.StringIO(render_view(board, "csv", "bass")))
    assert list(bass.columns)[:2] == ["Architecture", "Recipe"] and bass.empty


def test_cli_writes_and_checks_generated_pages(tmp_path, capsys):
    records_dir = write_records(
        tmp_path / "leaderboards", [make_record("a"), make_record("b", autoattack=0.5)]
    )
    folder = records_dir / "fashion-mnist"
    args = ["leaderboard", "--records-dir", str(records_dir)]
    assert main([*args, "--check"]) == 1
    assert "README.md: is missing" in capsys.readouterr().out
    assert main([*args, "--dataset", "fashion-mnist", "--write"]) == 0
    readme = (folder / "README.md").read_text()
    assert readme.startswith(
        "<!-- Generated by `freqbench leaderboard --dataset fashion-mnist --write`"
    )
    assert "[index.html](index.html)" in readme and "## Linf robustness" in readme
    assert "### What BaSS changes" in readme and "### Rank correlations with robustness" in readme
    assert [r["Model"] for r in parse_markdown_table(readme)] == ["b", "a"]
    assert (folder / "index.html").is_file()
    capsys.readouterr()
    assert main([*args, "--check"]) == 0
    changed = make_record("a", autoattack=0.9)
    (folder / "a.json").write_text(json.dumps(changed))
    assert main([*args, "--check"]) == 1
    out = capsys.readouterr().out
    assert (
        "README.md: is out of date with the records" in out
        and "--dataset fashion-mnist --write" in out
    )
    assert main([*args, "--write"]) == 0 and main([*args, "--check"]) == 0


def test_repository_readme_block_is_generated_and_checked(tmp_path, capsys):
    records_dir = write_records(
        tmp_path / "leaderboards", [make_record("a"), make_record("b", autoattack=0.5)]
    )
    start, end = (
        "<!-- freqbench leaderboard fashion-mnist: start -->",
        "<!-- freqbench leaderboard fashion-mnist: end -->",
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"# Project\n\nIntro.\n\n{start}\nold table\n{end}\n\nMore text.\n")
    args = ["leaderboard", "--records-dir", str(records_dir)]
    assert main([*args, "--write"]) == 0
    text = readme.read_text()
    assert text.startswith("# Project\n\nIntro.\n\n" + start) and text.endswith(
        f"{end}\n\nMore text.\n"
    )
    block = text.split(start)[1].split(end)[0]
    assert "old table" not in block
    assert "[leaderboards/fashion-mnist/README.md](leaderboards/fashion-mnist/README.md)" in block
    assert "`freqbench leaderboard --dataset fashion-mnist --write`" in block
    assert [r["Model"] for r in parse_markdown_table(block)] == ["b", "a"]
    assert main([*args, "--check"]) == 0
    readme.write_text(text.replace("| b ", "| c ", 1))  # a hand edit inside the block
    assert main([*args, "--check"]) == 1
    assert "README.md: is out of date" in capsys.readouterr().out
    readme.write_text(f"{end}\n{start}\n")
    assert main([*args, "--write"]) == 2
    assert "must each appear once, in this order" in capsys.readouterr().err
    readme.write_text("no markers\n")  # a README without the block is left alone
    assert main([*args, "--write"]) == 0 and readme.read_text() == "no markers\n"


def test_cli_prints_a_view_and_rejects_bad_input(tmp_path, capsys):
    records_dir = write_records(
        tmp_path / "lb", [make_record("a"), make_record("b", norm="L2", eps=1.5)]
    )
    args = ["leaderboard", "--records-dir", str(records_dir), "--dataset", "fashion-mnist"]
    assert main([*args, "--threat-model", "L2", "--table", "main"]) == 0
    assert [r["Model"] for r in parse_markdown_table(capsys.readouterr().out)] == ["b"]
    assert main([*args, "--format", "csv", "--out", str(tmp_path / "t.csv")]) == 0
    assert list(pd.read_csv(tmp_path / "t.csv")["Model"]) == ["a"]

    (records_dir / "empty").mkdir()
    assert main(["leaderboard", "--records-dir", str(records_dir), "--dataset", "empty"]) == 2
    err = capsys.readouterr().err
    assert "empty holds no records" in err and "Traceback" not in err
    assert (
        main(["leaderboard", "--records-dir", str(records_dir), "--dataset", "fashion-mnst"]) == 2
    )
    assert "Did you mean: fashion-mnist" in capsys.readouterr().err

    (records_dir / "fashion-mnist" / "c.json").write_text(
        '{"format": "freqbench-record/3",\n "name": }'
    )
    assert main(args) == 2
    assert "c.json: invalid JSON at line 2, column 10" in capsys.readouterr().err
    broken = make_record("c")
    del broken["metrics"]["clean"]["n"]
    broken["protocol"]["eps"] = "0.1"
    (records_dir / "fashion-mnist" / "c.json").write_text(json.dumps(broken))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "c.json: " in err and "metrics.clean.n: missing required key" in err
    assert "protocol.eps: '0.1' is not of type 'number'" in err


def test_loaded_records_keep_their_path(tmp_path):
    records_dir = write_records(tmp_path, [make_record("a")])
    (records_dir / "fashion-mnist" / ".a.autoattack.state.json").write_text("{}")
    records = load_records(records_dir / "fashion-mnist")
    assert [r.path.name for r in records] == ["a.json"]


def test_a_model_s_footnote_is_marked_in_its_row_and_said_under_the_table():
    """The zoo entry's footnote (RobustBench's model_info footnote) says why a row differs,
    e.g. a batch size other than today's default: the Notes cell points to it."""
    records = [Record(make_record(name)) for name in ("a", "b", "c")]
    for record, text in zip(
        records, ("Trained at batch 128.", "Trained at batch 128.", None), strict=True
    ):
        record.data["model_info"]["footnote"] = text
    view = build_leaderboard(records, "fashion-mnist")
    notes = dict(zip(view.main.frame["model"], view.main.frame["notes"], strict=True))
    assert notes == {"a": "footnote", "b": "footnote", "c": ""}
    assert "footnote of a, b: Trained at batch 128." in view.main.notes
