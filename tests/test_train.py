"""The trainer: resume, BaSS dataset mode, label shuffling, configs, the CLI and a real run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from freqbench.checkpoints import load_checkpoint
from freqbench.cli import main
from freqbench.config import TrainConfig, load_config
from freqbench.data import load_dataset
from freqbench.errors import UnknownNameError, UserError
from freqbench.spectral import bass
from freqbench.training import learning_rate, resolve, shuffle_labels, train
from freqbench.training.data import load_training_data

CONFIGS = Path(__file__).resolve().parent.parent / "model_zoo" / "fashion-mnist" / "configs"

# A quick run on the 32x32 synthetic set that uses every random stream of the trainer:
# data order, mixup, label shuffling, BaSS draws and the attack's random start.
TINY = TrainConfig(
    recipe="pgd-at+bass",
    dataset="synthetic",
    epochs=2,
    batch_size=32,
    max_train_examples=96,
    eval_examples=16,
    label_shuffle=0.2,
    mixup_alpha=1.0,
    recipe_options={"steps": 2},
)


class Killed(Exception):
    pass


@pytest.mark.slow
def test_resume_after_a_kill_is_bitwise_identical(tmp_path):
    whole = train(TINY, tmp_path / "whole", progress=False)

    def kill_in_epoch_two(epoch: int, step: int) -> None:
        if epoch == 2 and step == 5:  # 3 steps per epoch: the middle of epoch 2
            raise Killed

    with pytest.raises(Killed):
        train(TINY, tmp_path / "killed", progress=False, callback=kill_in_epoch_two)
    assert not (tmp_path / "killed" / "model.safetensors").exists()
    with pytest.raises(UserError, match=r"unfinished run.*--resume"):
        train(TINY, tmp_path / "killed", progress=False)
    resumed = train(TINY, tmp_path / "killed", resume=True, progress=False)

    a, b = load_file(whole.checkpoint), load_file(resumed.checkpoint)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    timing = ("seconds", "images_per_second", "eval_seconds")
    logs = [
        [{k: v for k, v in json.loads(line).items() if k not in timing} for line in r.log.open()]
        for r in (whole, resumed)
    ]
    assert logs[0] == logs[1] and [r["epoch"] for r in logs[0]] == [1, 2]
    state = torch.load(resumed.state, weights_only=True)
    assert state["epoch"] == 2 and state["scheduler"]["step"] == 6


@pytest.mark.slow
def test_finished_run_is_refused_then_resumed_or_overwritten(tmp_path):
    config = TrainConfig(
        dataset="synthetic", epochs=1, batch_size=64, max_train_examples=64, eval_examples=8
    )
    first = train(config, tmp_path, progress=False)
    record = json.loads(first.log.read_text())
    assert set(record) >= {"epoch", "loss", "train_acc", "test_acc", "pgd10_acc", "lr", "seconds"}
    with pytest.raises(UserError, match="finished run"):
        train(config, tmp_path, progress=False)
    mtime = first.checkpoint.stat().st_mtime_ns
    again = train(config, tmp_path, resume=True, progress=False)  # complete: nothing to do
    assert again.checkpoint.stat().st_mtime_ns == mtime and again.metrics == first.metrics
    assert again.reused and not first.reused  # and the demo says "reused", not "done in 0 s"
    with pytest.raises(UserError, match=r"config differs.*seed"):
        train(config.replace(seed=1), tmp_path, resume=True, progress=False)
    train(config.replace(seed=1), tmp_path, overwrite=True, progress=False)
    assert json.loads(first.checkpoint.with_suffix(".json").read_text())["config"]["seed"] == 1


@pytest.mark.slow
def test_checkpoint_records_the_resolved_config_and_bass_dataset_mode(tmp_path):
    config = TrainConfig(
        recipe="natural+bass",
        bass_mode="dataset",
        dataset="synthetic",
        epochs=1,
        batch_size=64,
        max_train_examples=64,
        eval_examples=8,
    )
    result = train(config, tmp_path, progress=False)
    _, info = load_checkpoint(result.checkpoint)
    assert (info.recipe, info.bass_mode, info.dataset) == ("natural+bass", "dataset", "synthetic")
    assert info.config["bass_mode"] == "dataset" and info.config["bass_p"] is None
    assert info.config["eps"] == pytest.approx(8 / 255) and info.config["seed"] == 0
    assert info.config["batch_size"] == 64 and info.config["recipe_options"] == {}

    data = load_training_data(resolve(config))
    raw_train = load_dataset("synthetic", "train").images[:64]
    raw_test = load_dataset("synthetic", "test").images[:8]
    assert torch.equal(data.train_images, bass(raw_train))
    assert torch.equal(data.test_images, bass(raw_test))


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 1.0])
def test_label_shuffle_moves_exactly_the_requested_fraction(fraction):
    labels = torch.arange(1000)  # distinct labels: a moved label is a changed label
    shuffled = shuffle_labels(labels, fraction, seed=3)
    assert int((shuffled != labels).sum()) == round(fraction * 1000)
    assert torch.equal(shuffled.sort().values, labels)  # a permutation
    assert torch.equal(shuffled, shuffle_labels(labels, fraction, seed=3))


def test_schedules():
    assert [learning_rate("piecewise", 0.1, s, 100) for s in (0, 49, 50, 74, 75, 99)] == [
        pytest.approx(v) for v in (0.1, 0.1, 0.01, 0.01, 0.001, 0.001)
    ]
    assert learning_rate("cosine", 0.1, 0, 100) == pytest.approx(0.1)
    assert learning_rate("cosine", 0.1, 50, 100) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"recipe": "trade"}, UnknownNameError, "Did you mean: trades"),
        ({"architecture": "smalcnn"}, UnknownNameError, "Did you mean: smallcnn"),
        ({"dataset": "fashion-mnst"}, UnknownNameError, "Did you mean: fashion-mnist"),
        ({"eps": -0.1}, UserError, r"eps must be a finite number in \[0, 1\]"),
        ({"recipe": "trades", "bass_mode": "augment"}, UserError, "'trades\\+bass'"),
        ({"recipe": "mart", "mixup_alpha": 0.2}, UserError, "mixup"),
        ({"recipe": "natural+bass", "bass_mode": "dataset", "dataset": "cifar10-b"}, UserError, "twice"),
        ({"device": "tpu"}, UserError, "device"),
    ],
)  # fmt: skip
def test_bad_configs_are_user_errors(changes, error, message):
    with pytest.raises(error, match=message):
        resolve(TrainConfig().replace(**changes))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def test_toml_errors_name_the_key_and_the_file(tmp_path):
    path = _write(tmp_path, 'recipe = "trades"\nepocs = 3\n')
    with pytest.raises(UserError, match=rf"{path}.*unknown key 'epocs'.*'epochs'"):
        load_config(path)
    path = _write(tmp_path, 'epochs = "five"\n')
    with pytest.raises(UserError, match=rf"{path}.*'epochs' must be of type int"):
        load_config(path)
    path = _write(tmp_path, 'recipe = "trades"\n[recipe_options]\nbeta = 6.0\nbetta = 1\n')
    with pytest.raises(UserError, match=rf"{path} \[recipe_options\].*unknown key 'betta'"):
        resolve(load_config(path))
    path = _write(tmp_path, 'recipe = "trades"\nepochs = \n')
    with pytest.raises(UserError, match=rf"{path}: invalid TOML.*line 2"):
        load_config(path)


def test_toml_sets_options_and_flags_override_them(tmp_path):
    path = _write(
        tmp_path,
        'recipe = "mart+bass"\nlr = 1\nbass_mode = "augment"\nbass_p = 0.25\n'
        "[recipe_options]\nbeta = 4\n",
    )
    config = load_config(path).replace(epochs=2)
    resolved = resolve(config).as_dict()
    assert resolved["lr"] == 1.0 and isinstance(resolved["lr"], float)
    assert resolved["recipe_options"]["beta"] == 4.0 and resolved["bass_p"] == 0.25
    assert resolved["epochs"] == 2


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_example_configs_resolve(path):
    config = load_config(path)
    assert path.name == f"{config.recipe.replace('+', '-')}-{config.architecture}.toml"
    assert resolve(config).info.name == "fashion-mnist"


@pytest.mark.slow
def test_cli_trains_then_refuses_a_finished_run(tmp_path, capsys):
    args = ["train", "--dataset", "synthetic", "--recipe", "natural+bass", "--epochs", "1"]
    args += ["--batch-size", "64", "--max-train-examples", "64", "--eval-examples", "8"]
    args += ["--out", str(tmp_path)]
    assert main(args) == 0
    summary = capsys.readouterr().out
    assert "test acc" in summary and "natural+bass (bass_mode augment)" in summary
    # The user's view of a mistake: a real process, exit code 2, one line, no traceback.
    refused = subprocess.run(
        [sys.executable, "-m", "freqbench.cli", *args], capture_output=True, text=True, timeout=300
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "finished run" in refused.stderr and "--overwrite" in refused.stderr


def test_cli_rejects_a_bass_option_without_bass(tmp_path, capsys):
    code = main(["train", "--recipe", "trades", "--bass-p", "0.3", "--out", str(tmp_path)])
    assert code == 2 and "use recipe 'trades+bass'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_150_natural_steps_on_fashion_mnist_learn(fmnist_dir, tmp_path):
    """The zoo's natural recipe on real data, a short schedule (150 steps of 64 images, the
    cosine schedule run to its end): measured 76.9% on the first 2,000 test images (one
    epoch reaches 88.6%, as the first hour shows); chance is 10%."""
    config = load_config(CONFIGS / "natural-smallcnn.toml").replace(
        epochs=1, max_train_examples=9600, data_dir=str(fmnist_dir), eval_examples=0
    )
    result = train(config, tmp_path, progress=False)
    model, _ = load_checkpoint(result.checkpoint)
    test = load_dataset("fashion-mnist", "test", n_examples=2000, data_dir=fmnist_dir)
    with torch.no_grad():
        predictions = torch.cat([model(x).argmax(1) for x in test.images.split(500)])
    accuracy = (predictions == test.labels).float().mean().item()
    assert accuracy >= 0.70, accuracy


@pytest.mark.parametrize(
    ("recipe", "clean", "pgd", "flagged"),
    [("natural", 0.51, 0.39, "PGD-10 leaves it 39.00% of its 51.00% clean accuracy (76%)"),
     ("natural", 0.51, 0.20, None), ("pgd-at", 0.51, 0.39, None),
     ("pgd-at", 0.15, 0.10, "clean accuracy 15.00% is within 2x chance (10.00%)")],
)  # fmt: skip
def test_train_s_summary_flags_what_evaluate_would(recipe, clean, pgd, flagged):
    """A natural model that keeps 76% of its accuracy under PGD-10 is masking its gradients or
    did not learn: evaluate flags it (records.degenerate_models), and so does train's summary."""
    from freqbench.cli.train_cmd import _summary
    from freqbench.training import TrainResult

    config = {"recipe": recipe, "bass_mode": None, "architecture": "smallcnn",
              "dataset": "fashion-mnist", "eps": 0.1}  # fmt: skip
    metrics = {"epoch": 1, "loss": 1.0, "test_acc": clean, "pgd10_acc": pgd, "eval_n": 500}
    result = TrainResult(Path("r"), Path("r/m"), Path("r/l"), Path("r/s"), config, metrics, 1.0)
    lines = [line for line in _summary(result).splitlines() if line.startswith("DEGENERATE")]
    assert lines[0].split("  ", 1)[1].strip().startswith(flagged) if flagged else lines == [], lines
