"""Where a model's weights come from: timm's pretrained ones, a user's state dict, or (only when
asked for) random ones, which no leaderboard takes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from freqbench.architectures import create_model
from freqbench.cli import main
from freqbench.data import load_dataset

DATA = ["--dataset", "synthetic", "--metrics", "clean", "--n-examples", "32", "--device", "cpu"]


@pytest.mark.slow
def test_timm_without_weights_offline_is_one_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "freqbench.cli", "evaluate", "--model", "timm:resnet10t",
         *DATA, "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},  # as on a machine without network
    )  # fmt: skip
    assert result.returncode == 2
    assert "could not get the pretrained weights of timm:resnet10t" in result.stderr
    assert "Hugging Face cache" in result.stderr and "--weights PATH" in result.stderr
    assert "--random-init" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_timm_without_weights_and_without_network_is_one_line_after_one_attempt(tmp_path):
    """No HF_HUB_OFFLINE, and a hub that refuses connections (a closed port stands for a
    machine without network): one line, no retry blocks (huggingface_hub retries a download
    five times, a warning block each), and none of the minute those retries take."""
    import time

    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "freqbench.cli", "evaluate", "--model", "timm:resnet10t",
         *DATA, "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf"),
             "HF_HUB_OFFLINE": "0"},
    )  # fmt: skip
    seconds = time.monotonic() - start
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "could not get the pretrained weights of timm:resnet10t" in line
    assert "http://127.0.0.1:9 cannot be reached: ConnectionError, one attempt" in line
    assert "Retrying" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    print(f"the offline failure took {seconds:.1f} s")  # imports included; no retries' sleeps


def test_an_architecture_name_alone_says_how_to_give_it_weights(tmp_path, capsys):
    assert main(["evaluate", "--model", "smallcnn", *DATA, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "smallcnn is an architecture" in err and "--weights PATH" in err


def test_random_init_is_recorded_and_listed_unranked_by_the_leaderboard(tmp_path, capsys):
    out = tmp_path / "synthetic"
    args = ["evaluate", "--model", "timm:resnet10t", "--random-init", *DATA, "--out", str(out)]
    assert main(args) == 0
    record = json.loads((out / "resnet10t-random.json").read_text())
    assert record["model"]["weights"] == "random"
    assert record["model"]["source"] == "timm:resnet10t (random init, seed 0)"
    assert main(args) == 0  # the same seed gives the same weights: the block is reused
    assert "nothing to run" in capsys.readouterr().out
    for folder in (tmp_path, out):  # the dataset folders' parent, or the --out folder itself
        board = ["leaderboard", "--dataset", "synthetic", "--records-dir", str(folder)]
        assert main(board) == 0
        printed = capsys.readouterr().out
        unranked = printed[printed.index("Not ranked") :]
        assert "resnet10t-random" in unranked
        assert "random weights (--random-init): only trained models are ranked" in unranked


@pytest.mark.parametrize("form", ["pt-of-the-architecture", "safetensors-of-the-wrapper"])
def test_weights_load_into_an_architecture(tmp_path, form):
    from safetensors.torch import save_file

    torch.manual_seed(7)
    model = create_model("smallcnn", 10, 3, image_size=32, mean=(0.5,) * 3, std=(0.25,) * 3)
    if form == "pt-of-the-architecture":  # what `torch.save(net.state_dict())` of a user holds
        weights = tmp_path / "net.pt"
        torch.save(model.net.state_dict(), weights)
    else:
        weights = tmp_path / "model.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    out = tmp_path / "records"
    argv = ["evaluate", "--model", "smallcnn", "--weights", str(weights), *DATA, "--out", str(out)]
    assert main(argv) == 0
    (record_file,) = out.glob("*.json")
    record = json.loads(record_file.read_text())
    data = load_dataset("synthetic", "test", n_examples=32)
    with torch.no_grad():  # the same weights, by hand: synthetic's mean and std inside
        expected = (model.eval()(data.images).argmax(1) == data.labels).float().mean()
    assert record["metrics"]["clean"]["accuracy"] == pytest.approx(float(expected))
    assert record["model"]["weights"] == "file"
    assert len(record["model"]["checkpoint_sha256"]) == 64


def test_input_normalization_puts_the_weights_own_normalization_in_the_model(tmp_path):
    """Weights trained on raw pixels (or on their own mean/std) are evaluated as they were
    trained: the accuracy equals a plain loop over the network on the images it expects."""
    torch.manual_seed(3)
    net = create_model("smallcnn", 10, 3, image_size=32, mean=(0.5,) * 3, std=(0.25,) * 3).net
    torch.save(net.state_dict(), tmp_path / "raw.pt")
    data = load_dataset("synthetic", "test", n_examples=32)
    mean, std = torch.tensor([0.4, 0.5, 0.6]), torch.tensor([0.2, 0.3, 0.25])
    net.eval()
    with torch.no_grad():
        expect_raw = float((net(data.images).argmax(1) == data.labels).float().mean())
        own = (data.images - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
        expect_own = float((net(own).argmax(1) == data.labels).float().mean())
    for flag, expected, name in (
        ("none", expect_raw, "raw"),
        ("0.4,0.5,0.6/0.2,0.3,0.25", expect_own, "own"),
    ):
        out = tmp_path / name
        args = ["evaluate", "--model", "smallcnn", "--weights", str(tmp_path / "raw.pt"),
                "--input-normalization", flag, *DATA, "--out", str(out), "--name", name]  # fmt: skip
        assert main(args) == 0
        record = json.loads((out / f"{name}.json").read_text())
        assert record["metrics"]["clean"]["accuracy"] == pytest.approx(expected)
        assert "normalization" in record["model"]["transform"]
    assert record["model"]["transform"]["normalization"] == {
        "mean": [0.4, 0.5, 0.6],
        "std": [0.2, 0.3, 0.25],
    }


@pytest.mark.parametrize(
    ("flag", "words"),
    [("0.5/0.5", "MEAN/STD with 3 comma-separated"), ("a,b,c/1,1,1", "MEAN/STD"),
     ("0,0,0/1,0,1", "std values must be > 0")],
)  # fmt: skip
def test_a_wrong_input_normalization_is_one_clear_error(tmp_path, capsys, flag, words):
    net = create_model("smallcnn", 10, 3, image_size=32, mean=(0.5,) * 3, std=(0.25,) * 3).net
    torch.save(net.state_dict(), tmp_path / "raw.pt")
    args = ["evaluate", "--model", "smallcnn", "--weights", str(tmp_path / "raw.pt"),
            "--input-normalization", flag, *DATA, "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 2
    assert words in capsys.readouterr().err
