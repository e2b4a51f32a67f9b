"""The evaluator end to end: one record with every metric, reuse, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from freqbench import checkpoints, loading
from freqbench.checkpoints import load_checkpoint, save_checkpoint
from freqbench.corruptions.params import CORRUPTIONS as CORRUPTION_NAMES
from freqbench.data import load_dataset
from freqbench.errors import UserError
from freqbench.evaluate import check_model, evaluate
from freqbench.evaluate.worker import WORKER
from freqbench.protocol import Protocol
from tests.conftest import shrink_autoattack
from tests.test_plugin_isolation import BUILTIN

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


@pytest.mark.slow
def test_record_holds_every_metric_and_robustbench_keys(record_dir):
    record = json.loads((record_dir / "tiny.json").read_text())
    assert record["format"] == "freqbench-record/3" and record["dataset"] == "synthetic"
    assert set(record["model_info"]) >= ROBUSTBENCH_KEYS
    assert list(record["metrics"]) == BUILTIN  # in the canonical order
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


@pytest.mark.slow
def test_record_validates_against_the_schema(record_dir):
    import jsonschema

    from freqbench.records import record_problems, record_schema

    record = json.loads((record_dir / "tiny.json").read_text())
    jsonschema.validate(record, record_schema())
    assert record_problems(record) == []


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_cli_writes_to_a_scratch_folder_never_into_the_leaderboard(synthetic_checkpoint, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "freqbench.cli", "evaluate", "--model", str(synthetic_checkpoint),
         "--metrics", "clean", "--n-examples", "16", "--name", "scratch"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.json")] == [
        "runs/records/synthetic/scratch.json"
    ]
    assert "runs/records/synthetic/scratch.json" in result.stdout


@pytest.mark.slow
def test_cli_prints_the_headline_table(synthetic_checkpoint, tmp_path):
    result = _cli(
        "--model", str(synthetic_checkpoint), "--metrics", "clean,filters", "--n-examples", "16",
        "--out", str(tmp_path), "--name", "cli",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "clean accuracy" in result.stdout and (tmp_path / "cli.json").is_file()


def test_every_headline_number_comes_with_its_context():
    """n on each accuracy line, the kernel size and the entropy's maximum beside the filter
    statistics, why a band-limited map's bands are empty, and the input the images became."""
    from freqbench.headline import headline_rows

    cells = {name: [0.5] * 5 for name in CORRUPTION_NAMES}
    record = {
        "name": "m", "dataset": "imagenet",
        "protocol": {"norm": "Linf", "eps": 4 / 255, "seed": 0, "standard": False,
                     "preprocessing": "Res256Crop224"},
        "metrics": {
            "corruptions": {"mean": 0.5, "per_family": {"noise": 0.5}, "cells": cells,
                            "source": "generated", "n": 40},
            "fourier_heatmap": {"eps": 15.7, "n": 4, "band_limit": 15,
                                "bands": {"low": None, "middle": None, "high": None}},
            "filters": {"first_layer": {"k": 7, "sparsity": 0.0, "variance_entropy": 1.634,
                                        "orthogonality": 0.5, "centre_fraction": 0.1}},
        },
    }  # fmt: skip
    rows = dict(headline_rows(record))
    assert "(n=40)" in rows["corruptions (generated)"]
    assert rows["heat map error low/mid/high"] == (
        "- / - / -  (n=4; 31x31 lowest frequencies measured; '-': a band the window does not "
        "hold whole)"
    )
    # log10(49) = 1.690: a 7x7 stem's entropy of 1.634 is near its maximum, not 0.954's
    assert rows["first layer (7x7) sparsity / ent / orth / centre"].endswith(
        "(entropy max 1.690 at 7x7)"
    )
    assert rows["preprocessing"] == "Res256Crop224 (224x224 px inputs)"


# ----------------------------------------------------------- incremental records


def _blocks(record: dict) -> dict:
    return {
        name: (record["metrics"][name], record["evaluations"][name]) for name in record["metrics"]
    }


def test_a_second_metric_joins_the_record_and_leaves_the_first_untouched(
    synthetic_checkpoint, tmp_path
):
    first = evaluate(
        str(synthetic_checkpoint), metrics="clean", protocol=TINY, out_dir=tmp_path, name="m"
    )
    second = evaluate(
        str(synthetic_checkpoint), metrics="filters", protocol=TINY, out_dir=tmp_path, name="m"
    )
    assert (first.ran, second.ran) == (["clean"], ["filters"])
    record = json.loads((tmp_path / "m.json").read_text())
    assert list(record["metrics"]) == ["clean", "filters"]
    assert _blocks(record)["clean"] == _blocks(first.record)["clean"]  # timing and time included
    assert record["model_info"]["clean_acc"] == first.record["model_info"]["clean_acc"]
    assert record["artifacts"] == {"filters_png": "m.filters.png"}
    again = evaluate(
        str(synthetic_checkpoint), metrics="clean,filters", protocol=TINY, out_dir=tmp_path,
        name="m",
    )  # fmt: skip
    assert again.ran == [] and again.reused == ["clean", "filters"]


def test_a_run_that_reuses_every_block_loads_neither_weights_nor_images(
    synthetic_checkpoint, tmp_path, monkeypatch
):
    options = {"metrics": "clean,filters", "protocol": TINY, "out_dir": tmp_path, "name": "m"}
    first = evaluate(str(synthetic_checkpoint), **options)

    def refuse(*args, **kwargs):
        raise AssertionError("weights or images loaded although every block is reused")

    for module, function in ((loading, "load_model_ref"), (checkpoints, "load_checkpoint")):
        monkeypatch.setattr(module, function, refuse)
    for method in ("loaded_model", "test_images", "clean_predictions"):
        monkeypatch.setattr(WORKER, method, refuse)
    again = evaluate(str(synthetic_checkpoint), **options)
    assert again.ran == [] and again.reused == ["clean", "filters"]
    assert again.record == first.record


@pytest.mark.slow
def test_a_new_eps_reruns_only_autoattack(synthetic_checkpoint, tmp_path, small_budget):
    kwargs = {"out_dir": tmp_path, "name": "m", "metrics": "clean,autoattack,filters"}
    before = evaluate(str(synthetic_checkpoint), protocol=TINY, **kwargs).record
    after = evaluate(str(synthetic_checkpoint), protocol=TINY.replace(eps=4 / 255), **kwargs)
    assert after.ran == ["autoattack"] and after.reused == ["clean", "filters"]
    changed = {k for k in before["metrics"] if _blocks(before)[k] != _blocks(after.record)[k]}
    assert changed == {"autoattack"}
    assert (
        after.record["protocol"]["eps"] == after.record["metrics"]["autoattack"]["eps"] == 4 / 255
    )
    assert after.record["model_info"]["eps"] == "4/255"


def test_another_checkpoint_under_the_same_name_is_refused_unless_replace(
    synthetic_checkpoint, tmp_path
):
    kwargs = {"protocol": TINY, "out_dir": tmp_path, "name": "m"}
    first = evaluate(str(synthetic_checkpoint), metrics="clean,filters", **kwargs).record
    assert (tmp_path / first["artifacts"]["filters_png"]).is_file()
    model, info = load_checkpoint(synthetic_checkpoint)
    with torch.no_grad():
        next(model.parameters()).add_(0.01)  # retrained, say, with --overwrite
    other = save_checkpoint(model, tmp_path / "other" / "model.safetensors", info)
    before = (tmp_path / "m.json").read_bytes()
    with pytest.raises(UserError, match="another model") as refused:
        evaluate(str(other), metrics="clean", **kwargs)
    new_sha = json.loads(other.with_suffix(".json").read_text())["sha256"]
    assert first["model"]["checkpoint_sha256"] in str(refused.value) and new_sha in str(
        refused.value
    )
    assert (tmp_path / "m.json").read_bytes() == before  # nothing touched

    result = evaluate(str(other), metrics="clean", replace=True, **kwargs)
    assert result.ran == ["clean"]
    assert list(result.record["metrics"]) == ["clean"]  # the filters block was not this model's
    assert result.record["model"]["checkpoint_sha256"] == new_sha
    assert not (tmp_path / first["artifacts"]["filters_png"]).exists()  # the old figure went too


def test_force_reruns_only_the_named_metrics(synthetic_checkpoint, tmp_path):
    kwargs = {"protocol": TINY, "out_dir": tmp_path, "name": "m"}
    before = evaluate(str(synthetic_checkpoint), metrics="clean,filters", **kwargs).record
    forced = evaluate(str(synthetic_checkpoint), metrics="filters", force=True, **kwargs)
    assert forced.ran == ["filters"]
    assert _blocks(forced.record)["clean"] == _blocks(before)["clean"]


def test_one_record_holds_one_protocol(synthetic_checkpoint, tmp_path):
    kwargs = {"out_dir": tmp_path, "name": "m"}
    evaluate(str(synthetic_checkpoint), metrics="clean", protocol=TINY, **kwargs)
    with pytest.raises(UserError, match="a record holds one protocol"):
        evaluate(
            str(synthetic_checkpoint), metrics="frequency",
            protocol=TINY.replace(n_examples=16), **kwargs,
        )  # fmt: skip
    # Re-running both together is the way out.
    both = evaluate(
        str(synthetic_checkpoint), metrics="clean,filters", protocol=TINY.replace(n_examples=16),
        **kwargs,
    )  # fmt: skip
    assert both.ran == ["clean", "filters"] and both.record["protocol"]["n_examples"] == 16


_SLOW_RUN = """
import sys, time
from freqbench.metrics import MetricResult, MetricSpec, register_metric
from freqbench.protocol import Protocol

def slow(model, data):
    time.sleep(300)
    return MetricResult({})

register_metric(MetricSpec(name="slow", description="sleeps", version="1", compute=slow, images=None))
from freqbench.evaluate import evaluate
evaluate(sys.argv[1], metrics="clean,slow", protocol=Protocol(n_examples=24), out_dir=sys.argv[2],
         name="killed", device="cpu", progress=False)
"""


@pytest.mark.slow
def test_a_kill_between_two_blocks_keeps_the_first(synthetic_checkpoint, tmp_path):
    import signal
    import time

    record = tmp_path / "killed.json"
    process = subprocess.Popen(
        [sys.executable, "-c", _SLOW_RUN, str(synthetic_checkpoint), str(tmp_path)]
    )
    try:
        deadline = time.monotonic() + 120
        while not record.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert record.exists(), "the clean block was never written"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    data = json.loads(record.read_text())
    assert list(data["metrics"]) == list(data["evaluations"]) == ["clean"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    again = evaluate(
        str(synthetic_checkpoint), metrics="clean", protocol=Protocol(n_examples=24),
        out_dir=tmp_path, name="killed",
    )  # fmt: skip
    assert again.ran == [] and again.record == data


@pytest.mark.slow
def test_shards_are_bounded_by_the_units_of_work(synthetic_checkpoint, tmp_path, small_budget):
    """No shard is empty: AutoAttack splits into at most its images, corruptions into at most
    their 75 cells, the heat map into at most its bases; a huge --shards plans no more."""
    from freqbench.evaluate import plan_evaluation

    protocol = TINY.replace(autoattack_n_examples=4, eps=0.25)
    eight = evaluate(str(synthetic_checkpoint), metrics="autoattack", out_dir=tmp_path / "8",
                     protocol=protocol.replace(shards=8), progress=False)  # fmt: skip
    four = evaluate(str(synthetic_checkpoint), metrics="autoattack", out_dir=tmp_path / "4",
                    protocol=protocol.replace(shards=4), progress=False)  # fmt: skip
    assert eight.record["evaluations"]["autoattack"]["shards"] == 4
    assert eight.record["metrics"]["autoattack"] == four.record["metrics"]["autoattack"]

    plan = plan_evaluation(str(synthetic_checkpoint), metrics="autoattack,corruptions,frequency",
                           protocol=protocol.replace(shards=10**9), progress=False)  # fmt: skip
    counts = {
        m: sum(t.metric == m for t in plan.tasks)
        for m in ("autoattack", "corruptions", "fourier_heatmap")
    }
    assert counts == {"autoattack": 4, "corruptions": 75, "fourier_heatmap": (32 * 32 + 4) // 2}


def test_the_summary_prints_the_filter_shift_from_the_reference(
    synthetic_checkpoint, tmp_path, capsys
):
    from freqbench.cli import main

    args = ["evaluate", "--model", str(synthetic_checkpoint), "--metrics", "filters",
            "--reference", str(synthetic_checkpoint), "--out", str(tmp_path), "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("filter shift from"))
    assert line.split()[-5] == "0.000"  # a model against itself: no shift
    assert "(first layer, symmetric KL)" in line


@pytest.mark.slow
def test_a_heat_map_protocol_change_re_runs_the_heat_map_alone(synthetic_checkpoint, tmp_path):
    kwargs = {"out_dir": tmp_path, "name": "m", "progress": False}
    first = evaluate(str(synthetic_checkpoint), metrics="clean,frequency", protocol=TINY, **kwargs)
    assert first.ran == ["clean", "band_split", "long_tail", "gradient_spectrum", "fourier_heatmap"]
    again = evaluate(
        str(synthetic_checkpoint), metrics="clean,frequency",
        protocol=TINY.replace(heatmap_eps=2.0), **kwargs,
    )  # fmt: skip
    assert again.ran == ["fourier_heatmap"]
    assert again.record["metrics"]["fourier_heatmap"]["eps"] == 2.0
    for name in ("clean", "band_split", "long_tail", "gradient_spectrum"):
        assert again.record["metrics"][name] == first.record["metrics"][name]


@pytest.mark.slow
def test_clean_predictions_are_made_once_for_every_metric_that_needs_them(
    synthetic_checkpoint, tmp_path, monkeypatch, small_budget
):
    """clean, AutoAttack and the heat map all read the model's clean predictions: one pass."""
    from freqbench import prediction

    passes = []
    original = prediction.predict_data
    monkeypatch.setattr(
        prediction, "predict_data", lambda model, data, *a: passes.append(len(data)) or original(model, data, *a)
    )  # fmt: skip
    result = evaluate(str(synthetic_checkpoint), metrics="clean,autoattack,fourier_heatmap",
                      protocol=TINY, out_dir=tmp_path, progress=False)  # fmt: skip
    assert passes == [24]  # the n_examples images, once
    aa = result.record["metrics"]["autoattack"]
    clean = result.record["metrics"]["clean"]
    assert aa["n"] == 8 and 0 <= aa["clean_accuracy"] <= 1
    with torch.no_grad():  # the shared predictions are the model's own, image for image
        model, _ = load_checkpoint(synthetic_checkpoint)
        data = load_dataset("synthetic", "test", n_examples=24)
        own = model(data.images).argmax(1)
    assert clean["accuracy"] == pytest.approx(float((own == data.labels).float().mean()))
    assert clean["predicted_classes"] == torch.bincount(own, minlength=10).tolist()
    assert aa["clean_accuracy"] == pytest.approx(float((own[:8] == data.labels[:8]).float().mean()))


@pytest.mark.slow
def test_the_shared_pass_is_timed_in_the_block_that_made_it(
    synthetic_checkpoint, tmp_path, monkeypatch, small_budget
):
    """The record's seconds add up to the work done: the clean predictions' pass is in the
    first block that asked for them, not in nobody's."""
    import time

    from freqbench import prediction

    original = prediction.predict_data

    def slow_predict(model, data, *args):
        time.sleep(0.5)
        return original(model, data, *args)

    monkeypatch.setattr(prediction, "predict_data", slow_predict)
    result = evaluate(str(synthetic_checkpoint), metrics="clean,fourier_heatmap",
                      protocol=TINY, out_dir=tmp_path, progress=False)  # fmt: skip
    assert result.record["evaluations"]["clean"]["seconds"] >= 0.5


def test_a_failing_shared_pass_fails_the_blocks_that_need_it_only(
    synthetic_checkpoint, tmp_path, monkeypatch
):
    from freqbench.evaluate.worker import WorkerCache

    def broken(*args):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(WorkerCache, "clean_predictions", broken)
    result = evaluate(str(synthetic_checkpoint), metrics="clean,band_split", protocol=TINY,
                      out_dir=tmp_path, progress=False)  # fmt: skip
    assert result.ran == ["band_split"]
    assert "RuntimeError: CUDA out of memory" in result.failed["clean"]


def test_a_remote_driver_plans_from_the_checkpoint_s_files_without_loading_the_weights(
    synthetic_checkpoint, monkeypatch
):
    """For Ray, the driver reads the sidecar and counts parameters on the meta device; the
    plan (keys, model description) is the one a local driver makes."""
    from freqbench import checkpoints
    from freqbench.evaluate import plan_evaluation

    local = plan_evaluation(str(synthetic_checkpoint), metrics="clean", protocol=TINY)
    monkeypatch.setattr(checkpoints, "load_state_dict", lambda path: pytest.fail("weights read"))
    remote = plan_evaluation(
        str(synthetic_checkpoint), metrics="clean", protocol=TINY, executor="ray"
    )
    assert remote.description == local.description and remote.keys == local.keys
