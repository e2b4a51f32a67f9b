"""The evaluator end to end: one record with every metric, reuse, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from freqbench.checkpoints import load_checkpoint, save_checkpoint
from freqbench.data import load_dataset
from freqbench.errors import UserError
from freqbench.evaluate import check_model, evaluate
from freqbench.protocol import Protocol
from tests.conftest import shrink_autoattack

TINY = Protocol(n_examples=24, autoattack_n_examples=8, heatmap_n_examples=4, batch_size=64)
ROBUSTBENCH_KEYS = {
    "name", "architecture", "dataset", "eps", "clean_acc", "autoattack_acc", "corruptions_acc",
    "additional_data", "number_forward_passes", "venue", "link", "footnote",
}  # fmt: skip


@pytest.fixture(scope="module")
def record_dir(synthetic_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("records")
    with pytest.MonkeyPatch.context() as mp:  # the small_budget fixture, at module scope
        shrink_autoattack(mp)
        evaluate(str(synthetic_checkpoint), protocol=TINY, out_dir=out, name="tiny")
    return out


def test_record_holds_every_metric_and_robustbench_keys(record_dir):
    record = json.loads((record_dir / "tiny.json").read_text())
    assert record["format"] == "freqbench-record/2" and record["dataset"] == "synthetic"
    assert set(record["model_info"]) >= ROBUSTBENCH_KEYS
    assert list(record["metrics"]) == ["clean", "autoattack", "corruptions", "frequency", "filters"]
    assert list(record["evaluations"]) == list(record["metrics"])
    for evaluation in record["evaluations"].values():
        assert evaluation["device"] == "cpu" and evaluation["seconds"] >= 0
        assert evaluation["versions"]["torch"] and len(evaluation["key"]) == 64
    info = record["model_info"]
    assert info["clean_acc"] == pytest.approx(
        100 * record["metrics"]["clean"]["accuracy"], abs=0.01
    )
    assert info["eps"] == "8/255" and record["protocol"]["eps"] == pytest.approx(8 / 255)
    assert record["protocol"]["standard"] is False and record["protocol"]["n_examples"] == 24
    assert record["metrics"]["autoattack"]["n"] == 8
    assert len(record["metrics"]["corruptions"]["cells"]) == 15
    assert record["model"]["checkpoint_sha256"]
    for artifact in ("heatmap_npy", "heatmap_png", "filters_png"):
        assert (record_dir / record["artifacts"][artifact]).is_file()
    assert not list(record_dir.glob(".*"))  # no temporary or state files left


def test_record_validates_against_the_schema(record_dir):
    import jsonschema

    from freqbench.records import record_problems, record_schema

    record = json.loads((record_dir / "tiny.json").read_text())
    jsonschema.validate(record, record_schema())
    assert record_problems(record) == []


def test_existing_record_is_reused_unless_forced(record_dir, synthetic_checkpoint):
    before = json.loads((record_dir / "tiny.json").read_text())
    again = evaluate(str(synthetic_checkpoint), protocol=TINY, out_dir=record_dir, name="tiny")
    assert again.ran == [] and again.record == before
    forced = evaluate(
        str(synthetic_checkpoint), metrics="clean", protocol=TINY, out_dir=record_dir,
        name="tiny", force=True,
    )  # fmt: skip
    assert forced.ran == ["clean"] and set(forced.record["metrics"]) == set(before["metrics"])
    after = forced.record["evaluations"]
    assert after["clean"]["created"] >= before["evaluations"]["clean"]["created"]
    assert {k: v for k, v in after.items() if k != "clean"} == {
        k: v for k, v in before["evaluations"].items() if k != "clean"
    }


class _WrongClasses(nn.Module):
    def forward(self, x):
        return torch.zeros(len(x), 3)


class _NaNLogits(nn.Module):
    def forward(self, x):
        return torch.full((len(x), 10), float("nan"))


def test_bad_models_are_refused():
    data = load_dataset("synthetic", "test", n_examples=8)
    with pytest.raises(UserError, match="10 classes"):
        check_model(_WrongClasses(), data, "cpu")
    with pytest.raises(UserError, match="NaN"):
        check_model(_NaNLogits(), data, "cpu")
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)).train()
    with pytest.warns(UserWarning, match="train mode"):
        check_model(model, data, "cpu")
    assert not model.training


def test_bass_dataset_mode_is_applied_at_evaluation(tmp_path, synthetic_checkpoint):
    from freqbench.spectral import bass

    model, info = load_checkpoint(synthetic_checkpoint)
    info.bass_mode, info.sha256 = "dataset", None
    path = save_checkpoint(model, tmp_path / "bass" / "model.safetensors", info)
    record = evaluate(str(path), metrics="clean", protocol=TINY).record
    data = load_dataset("synthetic", "test", n_examples=24)
    with torch.no_grad():
        expected = (model(bass(data.images)).argmax(1) == data.labels).float().mean()
    assert record["model"]["bass_mode"] == "dataset"
    assert record["metrics"]["clean"]["accuracy"] == pytest.approx(float(expected))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "freqbench.cli", "evaluate", *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_cli_user_mistakes_exit_2_without_record(synthetic_checkpoint, tmp_path):
    wrong_dataset = _cli(
        "--model", str(synthetic_checkpoint), "--dataset", "cifar10", "--out", str(tmp_path)
    )
    assert wrong_dataset.returncode == 2 and "trained on synthetic" in wrong_dataset.stderr
    too_many = _cli(
        "--model", str(synthetic_checkpoint), "--n-examples", "100000", "--out", str(tmp_path)
    )
    assert too_many.returncode == 2 and "n-examples" in too_many.stderr
    for result in (wrong_dataset, too_many):
        assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_prints_the_headline_table(synthetic_checkpoint, tmp_path):
    result = _cli(
        "--model", str(synthetic_checkpoint), "--metrics", "clean,filters", "--n-examples", "16",
        "--out", str(tmp_path), "--name", "cli",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "clean accuracy" in result.stdout and (tmp_path / "cli.json").is_file()
