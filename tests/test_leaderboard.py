"""Leaderboard tables from records written here: ranking, BaSS deltas, correlations, outputs.

:func:`make_record` builds a complete record in the evaluator's format; the other leaderboard
and validation tests import it from here.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from freqbench.cli import main
from freqbench.errors import UnknownNameError, UserError
from freqbench.evaluate.record import migrate
from freqbench.filter_stats import STAT_KEYS
from freqbench.leaderboard import build_leaderboard, render_view
from freqbench.leaderboard.correlation import spearman
from freqbench.records import Record, load_records, record_problems

CORRUPTIONS = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}


def _stats(seed: float) -> dict[str, float]:
    return {key: round(0.1 + 0.05 * i + seed, 4) for i, key in enumerate(STAT_KEYS)}


def make_record(
    name: str,
    *,
    dataset: str = "fashion-mnist",
    architecture: str = "smallcnn",
    recipe: str | None = "natural",
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
    sha256: str | None = "0" * 64,
    transform: dict[str, Any] | None = None,
    venue: str = "",
    artifacts: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A record as the evaluator writes it. ``corruptions`` maps family -> accuracy (one value
    per family, shared by its corruptions and severities; 0.7 for all by default)."""
    families = corruptions if corruptions is not None else {f: 0.7 for f in CORRUPTIONS}
    per_corruption = {c: families[f] for f, names in CORRUPTIONS.items() for c in names}
    mean = float(np.mean([v for v in per_corruption.values()]))
    first = {"name": "features.0", "out": 16, "in": 1, "k": 3, "n_kernels": 16, **_stats(0.0)}
    first["sparsity"] = sparsity
    metrics: dict[str, Any] = {
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
        "frequency": {
            "radii": [4, 7, 11, 14],
            "headline_radius": 7,
            "low_pass_accuracy": {"4": 0.2, "7": round(clean - 0.2, 4), "11": 0.7, "14": 0.8},
            "high_pass_accuracy": {"4": 0.3, "7": round(0.5 * clean, 4), "11": 0.1, "14": 0.1},
            "long_tail": {"q": 0.8, "mean_r80": 5.1, "head_accuracy": 0.6, "tail_accuracy": 0.2},
            "gradient": {
                "tail_share": tail_share,
                "entropy": 0.8,
                "mean_radius_top": {"1": 9.1, "20": 7.2, "50": 6.0},
            },
            "heatmap": {"eps": 3.5, "n": 1000, "bands": {"low": 0.1, "middle": 0.3, "high": 0.5}},
            "n": n_examples,
        },
        "filters": {
            "first_layer": first,
            "deciles": [{"decile": 0, "n_layers": 1, "n_kernels": 16, **_stats(0.0)}],
            "layers": [{**first, "depth": 0.0, "decile": 0}],
        },
    }
    if autoattack is not None:
        metrics["autoattack"] = {
            "robust_accuracy": autoattack,
            "clean_accuracy": clean,
            "n": autoattack_n_examples,
            "norm": norm,
            "eps": eps,
            "version": "standard",
            "broken_by": {"apgd-ce": 880, "apgd-t": 15, "fab-t": 0, "square": 0},
            "warnings": [],
            "unreliable": unreliable,
        }

    def percent(block: str, key: str) -> float | None:
        return round(100 * metrics[block][key], 2) if block in metrics else None

    return {
        "format": "freqbench-record/1",
        "name": name,
        "dataset": dataset,
        "model_info": {
            "name": name,
            "authors": "",
            "architecture": architecture,
            "dataset": dataset,
            "threat_model": norm,
            "eps": f"{eps:g}",
            "clean_acc": percent("clean", "accuracy"),
            "autoattack_acc": percent("autoattack", "robust_accuracy"),
            "corruptions_acc": percent("corruptions", "mean"),
            "additional_data": False,
            "number_forward_passes": 1,
            "venue": venue,
            "link": "",
            "footnote": None,
            "unreliable": unreliable,
        },
        "model": {
            "source": f"model_zoo/{dataset}/{name}.toml",
            "architecture": architecture,
            "recipe": recipe,
            "bass_mode": bass_mode,
            "checkpoint_sha256": sha256,
            "parameters": 435370,
            "transform": transform,
        },
        "protocol": {
            "norm": norm,
            "eps": eps,
            "n_examples": n_examples,
            "autoattack_n_examples": autoattack_n_examples,
            "heatmap_n_examples": 1000,
            "heatmap_eps": 3.5 if dataset.startswith("fashion-mnist") else 4.0,  # 4 H / 32
            "seed": 0,
            "batch_size": 500,
            "device": "cpu",
            "corruptions_source": "generated",
            "metrics": list(metrics),
            "standard": n_examples == 10_000 and autoattack_n_examples >= 1000,
        },
        "metrics": metrics,
        "artifacts": artifacts or {},
        "timings": {key: 1.0 for key in metrics},
        "versions": {"freqbench": "0.1.0", "torch": "2.13.0", "numpy": "2.3.0", "python": "3.11.2", "git_sha": None},
        "created": "2026-11-21T05:00:00+00:00",
    }  # fmt: skip


def write_records(records_dir: Path, records: list[dict[str, Any]]) -> Path:
    """Write each record to ``<records_dir>/<dataset>/<name>.json``; returns ``records_dir``."""
    for record in records:
        path = records_dir / record["dataset"] / f"{record['name']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2))
    return records_dir


def as_records(*data: dict[str, Any]) -> list[Record]:
    """Records in the first format, migrated as the reader migrates them."""
    return [Record(migrate(d)) for d in data]


def parse_markdown_table(text: str) -> list[dict[str, str]]:
    """The first GitHub-style table in ``text`` as {header: cell} rows (an independent reader)."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    split = [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in lines]
    header, rows = split[0], split[2:]
    end = next((i for i, row in enumerate(rows) if len(row) != len(header)), len(rows))
    return [dict(zip(header, row, strict=True)) for row in rows[:end]]


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
        assert float(row["Clean"]) == round(100 * m["clean"]["accuracy"], 2)
        assert float(row["AutoAttack"]) == round(100 * m["autoattack"]["robust_accuracy"], 2)
        assert float(row["Corruptions"]) == round(100 * m["corruptions"]["mean"], 2)
        assert float(row["LFC (r=7)"]) == round(100 * m["frequency"]["low_pass_accuracy"]["7"], 2)
        assert float(row["HFC (r=7)"]) == round(100 * m["frequency"]["high_pass_accuracy"]["7"], 2)
        assert float(row["Grad. tail share"]) == round(m["frequency"]["gradient"]["tail_share"], 3)
        assert float(row["Sparsity"]) == round(m["filters"]["first_layer"]["sparsity"], 3)
        fl = m["filters"]["first_layer"]
        assert float(row["Orthogonality"]) == round(fl["orthogonality"], 3)
    assert [row["Model"] for row in parse_markdown_table(text)] == ["b", "a"]


def test_bass_deltas():
    fam = dict.fromkeys(CORRUPTIONS, 0.7)
    data = [
        make_record("nat", clean=0.90, autoattack=0.00, tail_share=0.40, corruptions=fam),
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


def test_mixed_protocols_are_marked_not_silently_compared():
    data = [
        make_record("full", autoattack=0.30),
        make_record("small", autoattack=0.50, n_examples=500, autoattack_n_examples=100),
        make_record("small-bass", recipe="natural+bass", bass_mode="augment", autoattack=0.2),
        make_record("flaky", autoattack=0.60, unreliable=True),
    ]
    board = build_leaderboard(as_records(*data), "fashion-mnist")
    notes = dict(zip(board.main.frame["model"], board.main.frame["notes"], strict=True))
    assert notes["full"] == ""
    assert "non-standard: n_examples 500 (standard >= 10000)" in notes["small"]
    assert "autoattack_n_examples 100 (standard >= 1000)" in notes["small"]
    assert notes["flaky"] == "unreliable"
    legend = " ".join(board.main.notes)
    assert "1 of 4 models was evaluated with a protocol that differs" in legend
    bass_notes = dict(zip(board.bass.frame["base"], board.bass.frame["notes"], strict=True))
    assert bass_notes == {
        "flaky": "",
        "full": "",
        "small": "protocols differ: n_examples 500 vs 10000, autoattack_n_examples 100 vs 1000",
    }
    cifar = make_record(
        "c", dataset="cifar10", eps=0.03, n_examples=10_000, autoattack_n_examples=10_000
    )
    cifar_notes = build_leaderboard(as_records(cifar), "cifar10").main.frame["notes"][0]
    assert cifar_notes == "non-standard: eps 0.03 (standard 8/255)"


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


def test_csv_keeps_full_precision_and_latex_escapes():
    data = [make_record("under_score", clean=0.912345, autoattack=0.3)]
    board = build_leaderboard(as_records(*data), "fashion-mnist")
    frame = pd.read_csv(io.StringIO(render_view(board, "csv")))
    assert frame.loc[0, "Clean"] == pytest.approx(91.2345)
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
        '{"format": "freqbench-record/1",\n "name": }'
    )
    assert main(args) == 2
    assert "c.json: invalid JSON at line 2, column 10" in capsys.readouterr().err
    broken = make_record("c")
    del broken["metrics"]["clean"]["n"]
    broken["protocol"]["eps"] = "0.1"
    (records_dir / "fashion-mnist" / "c.json").write_text(json.dumps(broken))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "c.json: metrics.clean.n: missing required key" in err
    assert "protocol.eps: '0.1' is not of type 'number'" in err


def test_loaded_records_keep_their_path(tmp_path):
    records_dir = write_records(tmp_path, [make_record("a")])
    (records_dir / "fashion-mnist" / ".a.autoattack.state.json").write_text("{}")
    records = load_records(records_dir / "fashion-mnist")
    assert [r.path.name for r in records] == ["a.json"]
