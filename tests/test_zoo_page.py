"""The zoo's frequency view: per-model numbers beside published accuracies, Spearman's rho with
a bootstrap interval (checked against scipy, resample by resample), the claims' verdicts, and
the written page (Markdown, HTML, CSV, scatter plots)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import stats

from freqbench.errors import UserError
from freqbench.findings.zoo import architecture_family, bootstrap_spearman, verdict, zoo_view
from freqbench.published import get_published
from freqbench.records import Record

#: Six cifar10 Linf entries: WideResNets, (PreAct)ResNets, one with extra data.
NAMES = ("Standard", "Wong2020Fast", "Engstrom2019Robustness", "Rice2020Overfitting",
         "Carmon2019Unlabeled", "Gowal2021Improving_70_16_ddpm_100m")  # fmt: skip


def _record(name: str, hfc: float, centre: float) -> Record:
    first = {"name": "conv1", "out": 16, "in": 3, "k": 3, "n_kernels": 48, "sparsity": 0.0,
             "variance_entropy": 0.9, "variance_entropy_clean": 0.9, "orthogonality": 0.5,
             "kernel_high_frequency_energy": 0.8, "centre_fraction": centre}  # fmt: skip
    band = {"radii": [4, 8, 12, 16], "headline_radius": 8, "n": 100,
            "low_pass_accuracy": {"4": 0.5, "8": 0.6, "12": 0.7, "16": 0.8},
            "high_pass_accuracy": {"4": 0.4, "8": hfc, "12": 0.2, "16": 0.1}}  # fmt: skip
    return Record(
        {
            "model": {"source": f"robustbench:cifar10/Linf/{name}"},
            "metrics": {"band_split": band, "filters": {"first_layer": first, "deciles": []}},
        }
    )


HFC = (0.6, 0.3, 0.2, 0.25, 0.1, 0.05)
CENTRE = (0.11, 0.2, 0.35, 0.3, 0.5, 0.45)


@pytest.fixture
def records() -> list[Record]:
    return [_record(n, h, c) for n, h, c in zip(NAMES, HFC, CENTRE, strict=True)]


def test_bootstrap_interval_is_the_percentiles_of_scipy_rho_over_the_same_resamples():
    x = [0.1, 0.4, 0.35, 0.8, 0.6, 0.9, None, 0.2]
    y = [1.0, 2.0, 2.5, 4.0, 3.0, 5.0, 7.0, 0.5]
    rho, low, high, n = bootstrap_spearman(x, y, resamples=300, seed=3)
    a = np.array([0.1, 0.4, 0.35, 0.8, 0.6, 0.9, 0.2])
    b = np.array([1.0, 2.0, 2.5, 4.0, 3.0, 5.0, 0.5])
    assert n == 7 and rho == pytest.approx(stats.spearmanr(a, b).statistic)
    picks = np.random.default_rng(3).integers(0, 7, (300, 7))
    draws = []
    for i in picks:  # the reference: scipy, one resample at a time, constant ones left out
        if len(set(a[i])) > 1 and len(set(b[i])) > 1:
            draws.append(stats.spearmanr(a[i], b[i]).statistic)
    assert (low, high) == pytest.approx(tuple(np.percentile(draws, [2.5, 97.5])))
    assert np.isnan(bootstrap_spearman([1, 2], [3, 4])[0])  # fewer than 3 models


def test_the_view_correlates_each_measure_with_the_published_robust_accuracy(records):
    view = zoo_view(records, "cifar10", "Linf")
    robust = [get_published("cifar10", "Linf", n).robust_acc for n in sorted(NAMES)]
    order = sorted(range(len(NAMES)), key=lambda i: NAMES[i])
    by_key = {c.measure: c for c in view.correlations}
    hfc = by_key["hfc"]
    expected = stats.spearmanr([HFC[i] for i in order], robust).statistic
    assert (hfc.rho, hfc.n) == (pytest.approx(expected), 6)
    centre = by_key["centre_fraction"]
    assert centre.rho == pytest.approx(
        stats.spearmanr([CENTRE[i] for i in order], robust).statistic
    )
    assert "sparsity" in by_key and np.isnan(by_key["sparsity"].rho)  # constant: no number
    assert view.models["hfc"].tolist() == pytest.approx([100 * HFC[i] for i in order])
    assert architecture_family("WideResNet-70-16") == "WideResNet"
    assert architecture_family("PreActResNet-18") == "PreActResNet"


def test_verdicts_read_the_interval():
    from freqbench.findings.zoo import Correlation

    assert verdict(Correlation("m", "M", 0.8, 0.3, 0.95, 20), +1) == "supported"
    assert verdict(Correlation("m", "M", 0.8, 0.3, 0.95, 20), -1) == "contradicted"
    assert verdict(Correlation("m", "M", 0.2, -0.3, 0.6, 20), +1).startswith("not settled")
    assert verdict(None, +1) == "not measured"


def test_a_folder_without_zoo_records_is_a_clear_error():
    with pytest.raises(UserError, match="freqbench zoo run --dataset cifar10"):
        zoo_view([_record("Standard", 0.1, 0.1).__class__({"model": {"source": "x.pt"}})],
                 "cifar10", "Linf")  # fmt: skip


def test_zoo_page_writes_markdown_html_csv_and_plots(records, tmp_path, capsys):
    import json

    from freqbench.records import record_files

    for record in records:
        name = record.get("model", "source").rsplit("/", 1)[1]
        (tmp_path / f"{name}.json").write_text(json.dumps(record.data))
    assert not record_files(tmp_path / "none")
    view = zoo_view(records, "cifar10", "Linf")
    from freqbench.findings.zoo import write_zoo_page

    written = write_zoo_page(tmp_path, view)
    names = {p.name for p in written}
    assert {"ZOO.md", "zoo.html", "zoo.csv", "zoo-hfc.png", "zoo-centre-fraction.png"} <= names
    page = (tmp_path / "ZOO.md").read_text()
    assert "6 published cifar10 Linf entries measured" in page
    assert "Gavrikov and Keuper, CVPR 2022: robust models' first layers act more like 1x1" in page
    rows = list(csv.DictReader((tmp_path / "zoo.csv").open()))
    assert [r["model"] for r in rows] == sorted(NAMES)
    assert (tmp_path / "zoo-hfc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
