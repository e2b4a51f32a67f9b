"""`freqbench zoo`: the list of a board's published entries and where their weights are, and a
run over a board with random weights in robustbench's layout (no network: every file the run
reads is written here), whose entries end done, reused, failed or skipped, each with a reason."""

from __future__ import annotations

import json

import numpy as np
import pytest

from freqbench.cli import main
from freqbench.published import published_entries
from freqbench.published.zoo import zoo_weights

#: The cifar10 Linf board at the snapshot's commit: 99 entries, 76 with weights in robustbench
#: 1.1.1's zoo (tests/test_published.py); Alayrac2019Labels is published without weights.
BOARD = ("cifar10", "Linf")


def test_zoo_list_counts_entries_weights_and_local_files(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "cifar10" / "Linf"
    folder.mkdir(parents=True)
    (folder / "Wong2020Fast.pt").write_bytes(b"weights")
    monkeypatch.setenv("FREQBENCH_MODEL_DIR", str(tmp_path))
    assert main(["zoo", "list", "--dataset", "cifar10", "--threat-model", "Linf"]) == 0
    out = capsys.readouterr().out
    assert "cifar10 Linf: 99 entries, 76 with weights in robustbench 1.1.1's zoo, 1 local" in out
    rows = {
        line.split()[1]: line.split("  ")[-1].strip()
        for line in out.splitlines()
        if line[:3].strip().isdigit()
    }
    assert len(rows) == 99
    assert rows["Wong2020Fast"] == "local"
    assert rows["Alayrac2019Labels"] == "not published"
    assert rows["Engstrom2019Robustness"] == "missing"


def test_zoo_list_knows_hub_loaded_entries_and_ensembles():
    assert zoo_weights("imagenet", "Linf", "Standard_R50").source == "torchvision"
    assert zoo_weights("imagenet", "Linf", "Standard_R50").files == ()
    ensemble = zoo_weights("cifar10", "Linf", "Chen2020Adversarial")
    assert ensemble.files == tuple(f"cifar10/Linf/Chen2020Adversarial.pt_m{i}.pt" for i in range(3))
    # corruptions_3d entries are the corruptions entries, read from the corruptions folder
    assert zoo_weights("imagenet", "corruptions_3d", "Salman2020Do_50_2_Linf").files == (
        "imagenet/corruptions/Salman2020Do_50_2_Linf.pt",
    )


def test_zoo_list_pattern_and_unknown_names(capsys):
    assert (
        main(["zoo", "list", "--dataset", "imagenet", "--threat-model", "corruptions_3d", "S*"])
        == 0
    )
    out = capsys.readouterr().out
    assert "imagenet corruptions_3d: 2 entries" in out
    assert main(["zoo", "list", "--dataset", "cifar1"]) == 2
    assert "Did you mean: cifar10, cifar100" in capsys.readouterr().err
    assert main(["zoo", "run", "--dataset", "cifar10", "--threat-model", "Linf",
                 "--entries", "Wong2020Fas"]) == 2  # fmt: skip
    assert "Did you mean: Wong2020Fast" in capsys.readouterr().err


@pytest.mark.slow
def test_the_weights_table_is_the_installed_robustbench_zoo():
    from freqbench.architectures.external import zoo_weights_table
    from freqbench.published.zoo import _table

    assert zoo_weights_table() == _table()["boards"]
    for entry in published_entries():
        if zoo_weights(entry.dataset, entry.threat_model, entry.name) is None:
            assert entry.name not in zoo_weights_table()[f"{entry.dataset}/{entry.threat_model}"]


def _random_preact_resnet18(folder) -> np.ndarray:
    """Wong2020Fast's architecture (robustbench's PreActResNet-18) with seeded random weights,
    saved where robustbench reads them; returns its first conv layer's kernels."""
    import torch

    from freqbench.compat import import_robustbench

    import_robustbench()
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    torch.manual_seed(0)
    entry = model_dicts[BenchmarkDataset.cifar_10][ThreatModel.Linf]["Wong2020Fast"]
    model = entry["model"]()
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / "Wong2020Fast.pt")
    return model.state_dict()["conv1.weight"].numpy().astype(np.float64)


@pytest.mark.slow
def test_zoo_run_records_each_entry_with_its_outcome(tmp_path, monkeypatch, capsys):
    models, out = tmp_path / "models", tmp_path / "zoo"
    first = _random_preact_resnet18(models / "cifar10" / "Linf")
    # weights that are not weights: the entry fails with the reason, the others go on
    (models / "cifar10" / "Linf" / "Engstrom2019Robustness.pt").write_text("not a checkpoint")
    monkeypatch.setenv("FREQBENCH_MODEL_DIR", str(models))
    argv = ["zoo", "run", "--dataset", "cifar10", "--threat-model", "Linf", "--metrics", "filters",
            "--entries", "Wong2020Fast,Engstrom2019Robustness,Alayrac2019Labels",
            "--out", str(out), "--device", "cpu"]  # fmt: skip
    assert main(argv) == 1  # one entry failed
    text = capsys.readouterr().out
    assert "3 entries: 1 done, 0 reused, 1 failed, 1 skipped" in text
    lines = (out / "zoo-run.jsonl").read_text().splitlines()
    outcomes = {e["name"]: e for e in map(json.loads, lines)}
    assert outcomes["Wong2020Fast"]["status"] == "done"
    assert outcomes["Engstrom2019Robustness"]["status"] == "failed"
    assert "Engstrom2019Robustness.pt" in outcomes["Engstrom2019Robustness"]["reason"]
    assert outcomes["Alayrac2019Labels"] == {
        "dataset": "cifar10", "threat_model": "Linf", "metrics": ["filters"],
        "name": "Alayrac2019Labels", "status": "skipped", "seconds": 0.0, "blocks": [],
        "reason": "RobustBench publishes no weights for it",
    }  # fmt: skip
    record = json.loads((out / "Wong2020Fast.json").read_text())
    assert record["model"]["source"] == "robustbench:cifar10/Linf/Wong2020Fast"
    layer = record["metrics"]["filters"]["first_layer"]
    # centre fraction, by hand: w_centre^2 / sum w^2 per 3x3 kernel, mean over the 64 x 3 kernels
    kernels = first.reshape(-1, 3, 3)
    centre = np.mean([k[1, 1] ** 2 / np.sum(k**2) for k in kernels])
    assert (layer["k"], layer["n_kernels"]) == (3, 192)
    assert layer["centre_fraction"] == pytest.approx(centre, rel=1e-5)
    # run again: the done entry is reused, nothing recomputed
    argv[argv.index("--entries") + 1] = "Wong2020Fast"
    assert main(argv) == 0
    assert "1 entry: 0 done, 1 reused, 0 failed, 0 skipped" in capsys.readouterr().out
