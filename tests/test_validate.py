"""`freqbench validate`: a clean tree passes; each kind of broken entry or record is reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from freqbench.atomic import sha256_of
from freqbench.cli import main
from freqbench.filter_stats import STAT_KEYS
from freqbench.metrics import get_metric
from freqbench.validation import validate_tree
from freqbench.zoo import load_entry
from tests.test_leaderboard import make_record, put, write_records
from tests.test_zoo import write_entry

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def tree(tmp_path, monkeypatch) -> Path:
    """A clean repository: two entries with checkpoints, their records, and a heat map."""
    monkeypatch.chdir(tmp_path)
    zoo = Path("model_zoo")
    records = []
    for name, recipe, bass in (
        ("cnn-natural", "natural", None),
        ("cnn-natural-bass", "natural+bass", "augment"),
    ):
        entry = load_entry(write_entry(zoo, name, recipe=recipe, bass_mode=bass))
        sha = sha256_of(entry.weights_path)
        records.append(make_record(name, recipe=recipe, bass_mode=bass, sha256=sha))
    records[0]["artifacts"] = {"heatmap_png": "cnn-natural.heatmap.png"}
    write_records(Path("leaderboards"), records)
    Path("leaderboards/fashion-mnist/cnn-natural.heatmap.png").write_bytes(b"png")
    return tmp_path


def _problems(*paths: str) -> list[str]:
    return [str(p) for p in validate_tree([Path(p) for p in paths]).problems]


def _edit_record(name: str, edit) -> Path:
    path = Path(f"leaderboards/fashion-mnist/{name}.json")
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return path


def test_clean_tree_passes(tree, capsys):
    assert main(["validate"]) == 0
    assert capsys.readouterr().out == "checked 2 zoo entries and 2 records: no problems\n"


def test_missing_field_and_wrong_type(tree, capsys):
    def edit(data):
        del data["metrics"]["clean"]["accuracy"]
        data["protocol"]["n_examples"] = "10000"

    _edit_record("cnn-natural", edit)
    assert main(["validate"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert sorted(lines) == [
        "leaderboards/fashion-mnist/cnn-natural.json: metrics.clean.accuracy: missing required key",
        "leaderboards/fashion-mnist/cnn-natural.json: protocol.n_examples: '10000' is not of type 'integer'",
    ]


def test_record_for_an_unknown_entry(tree):
    write_records(Path("leaderboards"), [make_record("cnn-naturl")])
    assert _problems("leaderboards") == [
        "leaderboards/fashion-mnist/cnn-naturl.json: name: no zoo entry in model_zoo "
        "(unknown zoo entry 'cnn-naturl'. Did you mean: cnn-natural, cnn-natural-bass? "
        "Known: cnn-natural, cnn-natural-bass.)"
    ]


def test_checkpoint_hash_mismatch(tree):
    entry = Path("model_zoo/fashion-mnist/cnn-natural.toml")
    weights = entry.parent / "weights" / "cnn-natural.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\x00\x01\x02\x03")
    problems = _problems("model_zoo", "leaderboards")
    assert any(p.startswith(f"{entry}: weights.sha256: ") and "hashes to" in p for p in problems)
    assert any(p.startswith(f"{entry}: weights: the sidecar's sha256") for p in problems)
    assert len(problems) == 2  # the record agrees with the hash the entry states
    entry.write_text(
        "".join(line for line in entry.read_text().splitlines(True) if "sha256" not in line)
    )
    problems = _problems("leaderboards")  # without a stated hash, the file's own hash counts
    assert len(problems) == 1
    assert problems[0].startswith(
        "leaderboards/fashion-mnist/cnn-natural.json: model.checkpoint_sha256: "
    )


def test_record_must_agree_with_its_entry(tree):
    def edit(data):
        data["model"]["checkpoint_sha256"] = "a" * 64
        data["model"]["recipe"] = "trades"
        for metric, block in list(data["metrics"].items()):
            put(data, metric, block)  # keyed for the checkpoint it now names

    _edit_record("cnn-natural", edit)
    problems = _problems("leaderboards/fashion-mnist/cnn-natural.json")
    assert any(
        'model.checkpoint_sha256: "aaaa' in p
        and "zoo entry model_zoo/fashion-mnist/cnn-natural.toml says" in p
        for p in problems
    )
    assert any(
        'model.recipe: "trades" but zoo entry' in p and 'says "natural"' in p for p in problems
    )
    assert len(problems) == 2


def test_duplicate_names(tree):
    shutil.copy("model_zoo/fashion-mnist/cnn-natural.toml", "model_zoo/fashion-mnist/copy.toml")
    copied = (
        write_records(Path("lb-copy"), [make_record("cnn-natural")])
        / "fashion-mnist"
        / "cnn-natural.json"
    )
    Path("leaderboards/cifar10").mkdir()
    shutil.copy(copied, "leaderboards/cifar10/cnn-natural.json")
    problems = _problems("model_zoo", "leaderboards")
    assert (
        "model_zoo/fashion-mnist/copy.toml: name: 'cnn-natural' must equal the file stem 'copy'"
        in problems
    )
    assert (
        "model_zoo/fashion-mnist/copy.toml: name: 'cnn-natural' is also the name of zoo entry "
        "model_zoo/fashion-mnist/cnn-natural.toml"
    ) in problems
    assert (
        "leaderboards/cifar10/cnn-natural.json: name: 'cnn-natural' is also the name of record "
        "leaderboards/fashion-mnist/cnn-natural.json"
    ) in problems


def test_malformed_files_and_other_record_problems(tree, capsys):
    Path("model_zoo/fashion-mnist/bad.toml").write_text('name = "bad"\n\ndataset fashion-mnist\n')
    Path("leaderboards/fashion-mnist/broken.json").write_text('{\n  "name": "broken",\n}')

    def edit(data):
        data["metrics"]["gradient_spectrum"]["tail_share"] = float("nan")
        data["metrics"]["filters"]["first_layer"]["orthogonality"] = float("nan")  # allowed there
        data["model_info"]["clean_acc"] = 12.0
        data["artifacts"]["filters_png"] = "missing.png"

    _edit_record("cnn-natural", edit)
    assert main(["validate"]) == 1
    out = capsys.readouterr().out
    assert "model_zoo/fashion-mnist/bad.toml: invalid TOML: Expected '=' after a key" in out
    assert "(at line 3, column 9)" in out
    assert "leaderboards/fashion-mnist/broken.json: invalid JSON at line 3, column 1" in out
    record = "leaderboards/fashion-mnist/cnn-natural.json"
    assert f"{record}: metrics.gradient_spectrum.tail_share: not a finite number" in out
    assert "orthogonality" not in out
    assert (
        f"{record}: model_info.clean_acc: is 12.0, but metrics.clean.accuracy is 0.9 (expected 90.00)"
        in out
    )
    assert f"{record}: artifacts.filters_png: 'missing.png' does not exist beside the record" in out
    assert len(out.splitlines()) == 5  # one line per problem


def test_nothing_to_validate_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--zoo", "nowhere"]) == 2
    assert "nothing to validate" in capsys.readouterr().err


def test_schema_filter_keys_follow_the_metric():
    first_layer = get_metric("filters").block_schema()["properties"]["first_layer"]
    assert tuple(first_layer["allOf"][0]["required"]) == STAT_KEYS


def test_the_repository_validates(monkeypatch):
    monkeypatch.chdir(REPO)
    report = validate_tree()
    if report.n_entries + report.n_records == 0:
        pytest.skip("the repository has no zoo entries or records yet")
    assert [str(p) for p in report.problems] == []


def test_a_leaderboard_config_is_not_a_zoo_entry(tree, capsys):
    config = Path("leaderboards/fashion-mnist/leaderboard.toml")
    config.write_text('metrics = ["clean", "autoattack"]\n')
    assert main(["validate"]) == 0
    assert capsys.readouterr().out == "checked 2 zoo entries and 2 records: no problems\n"

    config.write_text('metrics = ["clean", "autoatack"]\n')
    assert main(["validate"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("leaderboards/fashion-mnist/leaderboard.toml: ")
    assert "autoatack" in out and "autoattack" in out  # the unknown name and a suggestion


def test_an_experiment_s_records_need_no_zoo_entry(tree, capsys):
    """The folder `evaluate --out` wrote (records directly in it, named as the published
    ones or not) is checked as records; a damaged one is still named."""
    scratch = Path("runs/records")
    scratch.mkdir(parents=True)
    for name in (
        "cnn-natural",
        "mine",
    ):  # one shares a published name: no clash outside leaderboards/
        (scratch / f"{name}.json").write_text(json.dumps(make_record(name)))
    assert main(["validate", str(scratch)]) == 0
    assert capsys.readouterr().out == "checked 0 zoo entries and 2 records: no problems\n"
    broken = make_record("broken")
    broken["metrics"]["clean"]["accuracy"] = 0.12345  # 1234.5 of the 10000 images
    broken["model_info"]["clean_acc"] = 12.35
    (scratch / "broken.json").write_text(json.dumps(broken))
    assert main(["validate", str(scratch)]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("runs/records/broken.json: metrics.clean.accuracy: 0.12345 of n = 10000")
