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


def _random_entry(models, dataset: str, threat_model: str, name: str, seed: int = 0) -> dict:
    """The entry's architecture (robustbench's own constructor) with seeded random weights,
    saved where robustbench reads them (ImageNet entries: the model inside the normalization
    wrapper); returns the state dict."""
    import torch

    from freqbench.compat import import_robustbench

    import_robustbench()
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    torch.manual_seed(seed)
    model = model_dicts[BenchmarkDataset(dataset)][ThreatModel(threat_model)][name]["model"]()
    model = getattr(model, "model", model) if dataset == "imagenet" else model
    folder = models / dataset / threat_model
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / f"{name}.pt")
    return model.state_dict()


def _write_cifar10_test_batch(root, n: int) -> None:
    """n random test images in the official "python version" layout."""
    import pickle

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"labels": rng.integers(0, 10, n).tolist()}  # fmt: skip
    (folder / "test_batch").write_bytes(pickle.dumps(batch))


def _hand_centre_fraction(weight) -> float:
    """w_centre^2 / sum w^2 per k x k kernel, mean over kernels (a plain loop)."""
    kernels = weight.numpy().astype(np.float64).reshape(-1, *weight.shape[-2:])
    c = weight.shape[-1] // 2
    return float(np.mean([k[c, c] ** 2 / np.sum(k**2) for k in kernels]))


@pytest.mark.slow
def test_zoo_run_records_each_entry_with_its_outcome(tmp_path, monkeypatch, capsys):
    models, out, data = tmp_path / "models", tmp_path / "zoo", tmp_path / "data"
    preact = _random_entry(models, "cifar10", "Linf", "Wong2020Fast")  # PreActResNet-18
    wide = _random_entry(models, "cifar10", "Linf", "Ding2020MMA")  # WideResNet-28-4
    # another architecture's weights: robustbench's constructor cannot take them
    (models / "cifar10" / "Linf" / "Engstrom2019Robustness.pt").write_bytes(
        (models / "cifar10" / "Linf" / "Wong2020Fast.pt").read_bytes()
    )
    _write_cifar10_test_batch(data, 8)
    monkeypatch.setenv("FREQBENCH_MODEL_DIR", str(models))
    entries = "Wong2020Fast,Ding2020MMA,Engstrom2019Robustness,Alayrac2019Labels"
    argv = ["zoo", "run", "--dataset", "cifar10", "--threat-model", "Linf", "--metrics",
            "clean,filters", "--entries", entries, "--n-examples", "8", "--data-dir", str(data),
            "--out", str(out), "--device", "cpu"]  # fmt: skip
    assert main(argv) == 1  # one entry failed
    text = capsys.readouterr().out
    assert "4 entries: 2 done, 0 reused, 1 failed, 1 skipped" in text
    lines = (out / "zoo-run.jsonl").read_text().splitlines()
    outcomes = {e["name"]: e for e in map(json.loads, lines)}
    assert outcomes["Wong2020Fast"]["status"] == outcomes["Ding2020MMA"]["status"] == "done"
    failed = outcomes["Engstrom2019Robustness"]
    assert failed["status"] == "failed" and "could not load" in failed["reason"]
    assert outcomes["Alayrac2019Labels"] == {
        "dataset": "cifar10", "threat_model": "Linf", "metrics": ["clean", "filters"],
        "name": "Alayrac2019Labels", "status": "skipped", "seconds": 0.0, "blocks": [],
        "reason": "RobustBench publishes no weights for it",
    }  # fmt: skip
    for name, weights in (("Wong2020Fast", preact), ("Ding2020MMA", wide)):
        record = json.loads((out / f"{name}.json").read_text())
        assert record["model"]["source"] == f"robustbench:cifar10/Linf/{name}"
        assert record["metrics"]["clean"]["n"] == 8
        layer = record["metrics"]["filters"]["first_layer"]
        assert layer["centre_fraction"] == pytest.approx(
            _hand_centre_fraction(weights[f"{layer['name']}.weight"]), rel=1e-5
        )
    # the zoo page is written after the run, from the two records
    page = (out / "ZOO.md").read_text()
    assert "2 published cifar10 Linf entries measured" in page
    assert (out / "zoo-centre-fraction.png").is_file()
    # run again: both done entries are reused, nothing recomputed
    argv[argv.index("--entries") + 1] = "Wong2020Fast,Ding2020MMA"
    assert main(argv) == 0
    assert "2 entries: 0 done, 2 reused, 0 failed, 0 skipped" in capsys.readouterr().out


@pytest.mark.slow
def test_zoo_run_needs_no_images_for_filters_and_reads_a_7x7_stem(tmp_path, monkeypatch, capsys):
    models, out = tmp_path / "models", tmp_path / "zoo"
    weights = _random_entry(models, "imagenet", "Linf", "Salman2020Do_R18")  # ResNet-18
    monkeypatch.setenv("FREQBENCH_MODEL_DIR", str(models))
    argv = ["zoo", "run", "--dataset", "imagenet", "--threat-model", "Linf", "--metrics",
            "filters", "--entries", "Salman2020Do_R18", "--out", str(out), "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0  # no --data-dir: filter statistics read weights only
    layer = json.loads((out / "Salman2020Do_R18.json").read_text())["metrics"]["filters"]
    layer = layer["first_layer"]
    assert layer["k"] == 7
    assert layer["centre_fraction"] == pytest.approx(
        _hand_centre_fraction(weights["conv1.weight"]), rel=1e-5
    )
    capsys.readouterr()


@pytest.mark.slow
def test_zoo_list_imports_no_torch():
    import subprocess
    import sys

    code = (
        "import sys, contextlib, io\n"
        "from freqbench.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['zoo', 'list', '--dataset', 'imagenet']) == 0\n"
        "print(sorted(m for m in ('torch', 'timm', 'robustbench') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
