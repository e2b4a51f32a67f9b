"""Model-zoo entries: reading, finding, loading weights (local, downloaded, RobustBench) and submitting.

:func:`write_entry` writes an entry with a real checkpoint; the validation tests use it too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from freqbench import architectures, zoo
from freqbench.atomic import sha256_of
from freqbench.checkpoints import CheckpointInfo, save_checkpoint
from freqbench.cli import main
from freqbench.errors import UnknownNameError, UserError
from freqbench.spectral import smooth_kernels
from freqbench.zoo import ZooEntry, find_entry, list_entries, load_entry


def write_entry(
    zoo_root: Path,
    name: str,
    *,
    dataset: str = "fashion-mnist",
    recipe: str = "natural",
    bass_mode: str | None = None,
    extra: str = "",
    sha256: bool = True,
) -> Path:
    """``<zoo_root>/<dataset>/<name>.toml`` with a fresh smallcnn checkpoint in ``weights/``."""
    folder = zoo_root / dataset
    info = CheckpointInfo.for_dataset("smallcnn", dataset, recipe=recipe, bass_mode=bass_mode)
    weights = save_checkpoint(info.build(), folder / "weights" / f"{name}.safetensors", info)
    lines = [
        f'name = "{name}"',
        f'dataset = "{dataset}"',
        'architecture = "smallcnn"',
        f'recipe = "{recipe}"',
        *([f'bass_mode = "{bass_mode}"'] if bass_mode else []),
        "",
        "[weights]",
        f'path = "weights/{name}.safetensors"',
        *([f'sha256 = "{sha256_of(weights)}"'] if sha256 else []),
        "",
        "[metadata]",
        'authors = "Test Author"',
        'venue = "freqbench tests"',
        extra,
    ]
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_load_entry_reads_every_table(tmp_path):
    path = write_entry(
        tmp_path, "smallcnn-smooth", extra="[transform]\nsmooth_kernels = { rho = 0.25 }\n"
        "[training]\nepochs = 3\n",
    )  # fmt: skip
    entry = load_entry(path)
    assert (entry.name, entry.dataset, entry.architecture, entry.recipe) == (
        "smallcnn-smooth", "fashion-mnist", "smallcnn", "natural",
    )  # fmt: skip
    assert entry.weights_path == path.parent / "weights" / "smallcnn-smooth.safetensors"
    assert entry.sha256 == sha256_of(entry.weights_path)
    assert entry.transform == {
        "smooth_kernels": {"rho": 0.25, "layers": "first"}
    }  # default spelled out
    assert entry.training == {"epochs": 3} and entry.metadata["authors"] == "Test Author"


def test_malformed_toml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\ndataset = "fashion-mnist"\narchitecture smallcnn\n')
    with pytest.raises(UserError, match=r"broken\.toml: invalid TOML: .*line 3"):
        load_entry(path)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ('path = "w.safetensors"\nurl = "https://x/w.safetensors"\nsha256 = "' + "a" * 64 + '"', "weights: needs exactly one of"),
        ('url = "https://x/w.safetensors"', "weights.sha256: missing required key (needed with 'url')"),
        ('robustbench = "Standard"', "weights.robustbench: must read <dataset>/<threat_model>/<Name>"),
        ('path = "w.safetensors"\nsha256 = "ABC"', "weights.sha256: must be 64 lowercase hex digits"),
    ],
)  # fmt: skip
def test_schema_errors_name_file_and_key(tmp_path, weights, message):
    path = tmp_path / "bad.toml"
    path.write_text(
        f'name = "bad"\ndataset = "fashion-mnist"\narchitecture = "smallcnn"\n[weights]\n{weights}\n'
    )
    with pytest.raises(UserError) as info:
        load_entry(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_list_and_find_skip_configs_and_suggest(tmp_path, monkeypatch):
    root = tmp_path / "model_zoo"
    write_entry(root, "smallcnn-natural")
    write_entry(root, "smallcnn-trades", recipe="trades")
    write_entry(root, "tiny", dataset="synthetic")
    (root / "fashion-mnist" / "configs").mkdir()
    (root / "fashion-mnist" / "configs" / "natural.toml").write_text("epochs = 3\n")
    assert [e.name for e in list_entries(root)] == ["smallcnn-natural", "smallcnn-trades", "tiny"]
    assert [e.name for e in list_entries(root, dataset="synthetic")] == ["tiny"]
    monkeypatch.chdir(tmp_path)
    assert zoo.default_root() == Path("model_zoo")  # relative: records quote entry paths as is
    assert find_entry("smallcnn-trades").path == Path(
        "model_zoo/fashion-mnist/smallcnn-trades.toml"
    )
    with pytest.raises(UnknownNameError, match="Did you mean: smallcnn-trades"):
        find_entry("smallcnn-trade")
    (root / "fashion-mnist" / "natural-broken.toml").write_text("not toml at all")
    assert find_entry("tiny").name == "tiny"  # a broken neighbour does not block a lookup
    write_entry(root, "tiny", dataset="fashion-mnist")
    with pytest.raises(UserError, match="'tiny' is used by 2 files"):
        find_entry("tiny")


def test_load_model_checks_hash_and_applies_the_transform(tmp_path):
    path = write_entry(tmp_path, "smooth", extra="[transform]\nsmooth_kernels = { rho = 0.5 }\n")
    entry = load_entry(path)
    model, info = entry.load_model()
    assert info.architecture == "smallcnn" and not model.training
    plain = info.build()
    plain.load_state_dict(_state(entry))
    expected = smooth_kernels(plain, 0.5, "first")
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(model(x), expected.eval()(x))
        assert not torch.allclose(model(x), plain.eval()(x))
    tampered = ZooEntry(**{**entry.__dict__, "weights": {**entry.weights, "sha256": "0" * 64}})
    with pytest.raises(UserError, match=r"does not match weights\.sha256"):
        tampered.load_model()


def _state(entry: ZooEntry) -> dict[str, torch.Tensor]:
    from freqbench.weights import load_state_dict

    return load_state_dict(entry.weights_path)


def test_url_weights_are_downloaded_once_and_verified(tmp_path):
    source = write_entry(tmp_path / "published", "remote")
    weights = load_entry(source).weights_path
    url, sha = weights.as_uri(), sha256_of(weights)
    entry = ZooEntry(
        "remote", "fashion-mnist", "smallcnn", tmp_path / "remote.toml", {"url": url, "sha256": sha}
    )
    cache = tmp_path / "cache"
    _, info = entry.load_model(cache_dir=cache)
    assert sorted(p.name for p in cache.iterdir()) == [f"{sha}.json", f"{sha}.safetensors"]
    assert info.sha256 == sha
    weights.unlink()  # a second load needs no network
    entry.load_model(cache_dir=cache)
    wrong = ZooEntry(
        "remote", "fashion-mnist", "smallcnn", entry.path, {"url": url, "sha256": "f" * 64}
    )
    with pytest.raises(UserError, match="could not download"):
        wrong.load_model(cache_dir=cache)
    weights.write_bytes(b"not the weights")
    with pytest.raises(UserError, match="sha256 is"):
        wrong.load_model(cache_dir=cache)
    assert not (cache / f"{'f' * 64}.safetensors").exists()


def test_robustbench_weights_use_robustbench_loading(tmp_path, monkeypatch):
    calls = []

    def fake_create_model(name):
        calls.append(name)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten())

    monkeypatch.setattr(architectures, "create_model", fake_create_model)  # imported at use
    entry = ZooEntry(
        "rb", "cifar10", "wrn-28-10", tmp_path / "rb.toml", {"robustbench": "cifar10/Linf/Standard"}
    )
    model, info = entry.load_model()
    assert calls == ["robustbench:cifar10/Linf/Standard"] and info is None and not model.training


def test_sidecar_must_match_the_entry(tmp_path):
    path = write_entry(tmp_path, "x")
    text = path.read_text().replace('architecture = "smallcnn"', 'architecture = "resnet18"')
    path.write_text(text)
    with pytest.raises(
        UserError, match="architecture is 'resnet18' but the checkpoint's sidecar says 'smallcnn'"
    ):
        load_entry(path).load_model()


@pytest.mark.slow
def test_submit_evaluates_writes_the_record_and_the_tables(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    entry = write_entry(Path("model_zoo"), "tiny-natural", dataset="synthetic")
    args = ["submit", str(entry), "--protocol", "quick", "--n-examples", "8",
            "--autoattack-n-examples", "4", "--heatmap-n-examples", "2"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    record_path = Path("leaderboards/synthetic/tiny-natural.json")
    record = json.loads(record_path.read_text())
    assert record["name"] == "tiny-natural" and record["protocol"]["standard"] is False
    assert record["model"]["checkpoint_sha256"] == sha256_of(load_entry(entry).weights_path)
    readme = Path("leaderboards/synthetic/README.md").read_text()
    assert "tiny-natural" in readme and Path("leaderboards/synthetic/index.html").is_file()
    assert "clean accuracy" in out  # the headline numbers
    git_add = next(line for line in out.splitlines() if line.startswith("git add "))
    assert git_add.split()[2:] == [
        str(entry),
        "model_zoo/synthetic/weights/tiny-natural.safetensors",
        "model_zoo/synthetic/weights/tiny-natural.json",
        "leaderboards/synthetic",
    ]  # the folder holds the record, its artifacts and the regenerated pages
    assert main(["leaderboard", "--check"]) == 0
    assert main(["validate"]) == 0
    assert main(args) == 0 and "every block was done" in capsys.readouterr().out  # nothing ran
