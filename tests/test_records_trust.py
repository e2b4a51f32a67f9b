"""Records you can trust: hostile record contents, concurrent runs, state files that belong
to live runs, and the leaderboard's and validate's agreement on what a folder may hold.

Each hostile case starts from a real record (clean and filters of the synthetic smallcnn,
24 images), damages it as a hand, a buggy tool or an attacker would, and runs the commands a
user would run next. Damage inside one block makes ``evaluate`` re-run that block and say why
(exit 0, the right number printed); damage to the record as a whole is one clear error
(exit 2, the file untouched) until ``--replace`` starts it afresh. ``leaderboard`` refuses
the damaged record and ``validate``'s checks name the damage; nothing gives a traceback.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from freqbench.cli import main
from freqbench.errors import UserError
from freqbench.evaluate import evaluate, plan_evaluation, run_plans
from freqbench.evaluate.states import StateFiles
from freqbench.executors import LocalExecutor
from freqbench.protocol import Protocol
from freqbench.records import MAX_RECORD_BYTES, record_problems

ROOT = Path(__file__).resolve().parent.parent
TINY = Protocol(n_examples=24, autoattack_n_examples=8, heatmap_n_examples=4, batch_size=64)
TINY_ARGS = ("--n-examples", "24", "--autoattack-n-examples", "8", "--heatmap-n-examples", "4",
             "--batch-size", "64", "--device", "cpu")  # fmt: skip


@pytest.fixture(scope="module")
def good_record(synthetic_checkpoint, tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """A real record of clean and filters (the file, and its data)."""
    out = tmp_path_factory.mktemp("good")
    result = evaluate(
        str(synthetic_checkpoint), metrics="clean,filters", protocol=TINY, out_dir=out,
        name="m", progress=False,
    )  # fmt: skip
    return result.path, result.record


def _evaluate(
    checkpoint: Path, out: Path, *extra: str, metrics: str = "clean,filters"
) -> list[str]:
    return ["evaluate", "--model", str(checkpoint), "--metrics", metrics, "--out", str(out),
            "--name", "m", *TINY_ARGS, *extra]  # fmt: skip


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict], Any]:
    def change(data: dict) -> Any:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return data

    return change


def _delete(*path: Any) -> Callable[[dict], Any]:
    def change(data: dict) -> Any:
        target = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        return data

    return change


def _both(*changes: Callable[[dict], Any]) -> Callable[[dict], Any]:
    def change(data: dict) -> Any:
        for one in changes:
            data = one(data)
        return data

    return change


@dataclass(frozen=True)
class BlockDamage:
    """Damage inside one block: evaluate re-runs it, saying ``why`` in its line."""

    id: str
    change: Callable[[dict], Any]
    rerun: tuple[str, ...]  # the blocks that must run again
    why: str  # words of the reason printed beside each re-run block


BLOCK_CASES = [
    BlockDamage("accuracy-5", _set(("metrics", "clean", "accuracy"), 5.0), ("clean",),
                "metrics.clean.accuracy"),
    BlockDamage("accuracy-nan", _set(("metrics", "clean", "accuracy"), float("nan")), ("clean",),
                "not a finite number"),
    BlockDamage("accuracy-0.99-by-hand", _set(("metrics", "clean", "accuracy"), 0.99), ("clean",),
                "model_info.clean_acc"),
    # 0.99 of 24 images is 23.76 images: with model_info agreeing, only the count says so.
    BlockDamage("accuracy-0.99-not-its-count",
                _both(_set(("metrics", "clean", "accuracy"), 0.99),
                      _set(("model_info", "clean_acc"), 99.0)), ("clean",),
                "0.99 is not its count"),
    BlockDamage("accuracy-0.99-no-count-stored",
                _both(_set(("metrics", "clean", "accuracy"), 0.99),
                      _set(("model_info", "clean_acc"), 99.0),
                      _delete("metrics", "clean", "correct")), ("clean",),
                "23.76 images, not a whole number"),
    BlockDamage("count-above-n", _set(("metrics", "clean", "correct"), 25), ("clean",),
                "not a whole number of images in 0..24"),
    BlockDamage("accuracy-string", _set(("metrics", "clean", "accuracy"), "high"), ("clean",),
                "metrics.clean.accuracy"),
    BlockDamage("n-1e30", _set(("metrics", "clean", "n"), 1e30), ("clean",), "metrics.clean.n"),
    BlockDamage("block-empty-object", _set(("metrics", "clean"), {}), ("clean",),
                "missing required key"),
    BlockDamage("block-a-list", _set(("metrics", "clean"), [0.5]), ("clean",), "metrics.clean"),
    BlockDamage("block-deleted-evaluation-kept", _delete("metrics", "clean"), ("clean",),
                "metrics lacks"),
    BlockDamage("evaluation-deleted-block-kept", _delete("evaluations", "clean"), ("clean",),
                "no evaluations entry"),
    BlockDamage("evaluation-a-string", _set(("evaluations", "filters"), "done"), ("filters",),
                "evaluations.filters"),
    BlockDamage("protocol-n-examples-edited", _set(("protocol", "n_examples"), 200), ("clean",),
                "computed for other settings"),
    BlockDamage("key-edited", _set(("evaluations", "filters", "key"), "f" * 64), ("filters",),
                "computed for other settings"),
]  # fmt: skip


@pytest.mark.parametrize("case", BLOCK_CASES, ids=lambda c: c.id)
def test_a_damaged_block_is_run_again_and_says_why(
    case: BlockDamage, good_record, synthetic_checkpoint, tmp_path, capsys
):
    path, good = good_record
    damaged = case.change(json.loads(path.read_text()))
    (tmp_path / "m.json").write_text(json.dumps(damaged))
    shutil.copy(path.with_name("m.filters.png"), tmp_path / "m.filters.png")
    assert record_problems(damaged)  # validate's checks name it too

    code = main(_evaluate(synthetic_checkpoint, tmp_path))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in out + err
    ran = [
        line.split()[0] for line in out.split("ran:")[1].splitlines()[1:] if line.startswith("  ")
    ]
    assert ran == list(case.rerun), out
    for name in case.rerun:
        line = next(line for line in out.splitlines() if line.startswith(f"  {name} "))
        assert case.why in line, line
    after = json.loads((tmp_path / "m.json").read_text())
    assert record_problems(after) == []
    assert after["metrics"] == good["metrics"]  # the right numbers, every block kept
    accuracy = good["metrics"]["clean"]["accuracy"]
    assert f"{100 * accuracy:.2f}%  (n=24)" in out


@dataclass(frozen=True)
class RecordDamage:
    """Damage to the record as a whole, or a file that is no record: a clear error."""

    id: str
    make: Callable[[Path, bytes], None]  # writes the damaged file at the path, from good bytes
    expect: tuple[str, ...]
    replace_recovers: bool = True  # --replace evaluates afresh into it


def _json(change: Callable[[dict], Any]) -> Callable[[Path, bytes], None]:
    return lambda path, good: path.write_text(json.dumps(change(json.loads(good))))


def _loop(path: Path, good: bytes) -> None:
    path.symlink_to(path.name)


def _deep(path: Path, good: bytes) -> None:
    path.write_text("[" * 100_000 + "]" * 100_000)


RECORD_CASES = [
    RecordDamage("evaluations-null", _json(_set(("evaluations",), None)), ("evaluations", "--replace")),
    RecordDamage("evaluations-list", _json(_set(("evaluations",), []))  , ("evaluations", "--replace")),
    RecordDamage("protocol-missing", _json(_delete("protocol")), ("protocol", "missing")),
    RecordDamage("protocol-string", _json(_set(("protocol",), "standard")), ("protocol",)),
    RecordDamage("model-null", _json(_set(("model",), None)), ("model",)),
    RecordDamage("metrics-string", _json(_set(("metrics",), "all")), ("metrics",)),
    RecordDamage("top-level-list", _json(lambda data: [data]), ("must be a json object",)),
    RecordDamage("not-utf8", lambda p, g: p.write_bytes(b"\xff\xfe" + g), ("not utf-8",)),
    RecordDamage("not-json", lambda p, g: p.write_bytes(g[:-40]), ("invalid json",)),
    RecordDamage("nested-100000-deep", _deep, ("nested deeper than",)),
    RecordDamage("huge", lambda p, g: p.write_text(" " * (MAX_RECORD_BYTES + 1)),
                 ("bytes, more than a record may hold",)),
    RecordDamage("another-record-name", _json(_set(("name",), "other")), ("record of 'other'",)),
    RecordDamage("a-folder", lambda p, g: p.mkdir(), ("is a folder",), replace_recovers=False),
    RecordDamage("looping-symlink", _loop, ("loops",), replace_recovers=False),
]  # fmt: skip


def _tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
        if not p.is_symlink()
    }


@pytest.mark.parametrize("case", RECORD_CASES, ids=lambda c: c.id)
def test_a_damaged_record_is_a_clear_error_everywhere(
    case: RecordDamage, good_record, synthetic_checkpoint, tmp_path, capsys
):
    path, _ = good_record
    records = tmp_path / "records" / "synthetic"
    records.mkdir(parents=True)
    case.make(records / "m.json", path.read_bytes())
    before = _tree(tmp_path)

    code = main(_evaluate(synthetic_checkpoint, records))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for words in case.expect:
        assert words.lower() in err.lower(), err
    assert _tree(tmp_path) == before  # nothing written, nothing deleted

    code = main(
        ["leaderboard", "--dataset", "synthetic", "--records-dir", str(tmp_path / "records")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "m.json" in err, err

    if case.replace_recovers:
        assert main(_evaluate(synthetic_checkpoint, records, "--replace")) == 0
        capsys.readouterr()
        assert record_problems(json.loads((records / "m.json").read_text())) == []


def test_validate_reports_a_folder_and_a_looping_link_named_like_records(tmp_path, capsys):
    records = tmp_path / "leaderboards" / "synthetic"
    records.mkdir(parents=True)
    (records / "d.json").mkdir()
    (records / "zz.json").symlink_to("zz.json")
    code = main(["validate", str(records), "--records-dir", str(tmp_path / "leaderboards"),
                 "--zoo", str(tmp_path / "model_zoo")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert (
        "d.json: is a folder" in out and "zz.json: cannot read: a symbolic link that loops" in out
    )
    code = main(
        ["leaderboard", "--dataset", "synthetic", "--records-dir", str(tmp_path / "leaderboards")]
    )
    assert code == 2 and "d.json: is a folder" in capsys.readouterr().err


def test_two_records_of_one_checkpoint_and_implausible_counts_are_refused(
    good_record, tmp_path, capsys
):
    path, good = good_record
    folder = tmp_path / "synthetic"
    folder.mkdir()
    for file_name in good["artifacts"].values():  # the figure the records refer to
        shutil.copy(path.parent / file_name, folder / file_name)
    for name in ("a", "b"):
        data = {**good, "name": name, "model_info": {**good["model_info"], "name": name}}
        (folder / f"{name}.json").write_text(json.dumps(data))
    leaderboard = ["leaderboard", "--dataset", "synthetic", "--records-dir", str(tmp_path)]
    assert main(leaderboard) == 2
    err = capsys.readouterr().err
    assert "b.json: holds the same checkpoint" in err and "as a.json" in err

    (folder / "b.json").unlink()
    counted = json.loads((folder / "a.json").read_text())
    counted["metrics"]["clean"]["n"] = 10**30
    (folder / "a.json").write_text(json.dumps(counted))
    assert main(leaderboard) == 2
    assert "metrics.clean.n" in capsys.readouterr().err


# --- concurrent runs -------------------------------------------------------------------


def test_two_runs_planned_before_either_writes_keep_both_blocks(synthetic_checkpoint, tmp_path):
    """The race of two terminals, made deterministic: both plans read the (missing) record,
    then both write. Each write merges into the record as it is on disk then."""
    plans = [
        plan_evaluation(
            str(synthetic_checkpoint),
            metrics=metrics,
            protocol=TINY,
            out_dir=tmp_path,
            name="m",
            progress=False,
        )
        for metrics in ("clean,filters", "corruptions,frequency")
    ]
    for plan in plans:
        run_plans([plan], LocalExecutor(), progress=False)
        plan.close()
    record = json.loads((tmp_path / "m.json").read_text())
    assert list(record["metrics"]) == [
        "clean", "corruptions", "band_split", "long_tail", "gradient_spectrum", "fourier_heatmap",
        "filters",
    ]  # fmt: skip
    assert record_problems(record) == []


@pytest.mark.slow
def test_two_concurrent_evaluate_processes_on_one_record_keep_every_block(
    synthetic_checkpoint, tmp_path
):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "freqbench.cli",
                *_evaluate(synthetic_checkpoint, tmp_path, metrics=m),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for m in ("clean,filters", "corruptions,frequency")
    ]
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
        assert "ran:" in out
    record = json.loads((tmp_path / "m.json").read_text())
    assert sorted(record["metrics"]) == sorted([
        "clean", "corruptions", "band_split", "long_tail", "gradient_spectrum", "fourier_heatmap",
        "filters",
    ])  # fmt: skip
    assert record_problems(record) == []


def test_a_conflicting_protocol_written_meanwhile_fails_only_that_block(
    synthetic_checkpoint, tmp_path
):
    first = plan_evaluation(
        str(synthetic_checkpoint), metrics="clean", protocol=TINY, out_dir=tmp_path, name="m",
        progress=False,
    )  # fmt: skip
    evaluate(str(synthetic_checkpoint), metrics="frequency", protocol=TINY.replace(n_examples=16),
             out_dir=tmp_path, name="m", progress=False)  # fmt: skip
    run_plans([first], LocalExecutor(), progress=False)
    first.close()
    assert "a record holds one protocol" in first.failed["clean"]
    record = json.loads((tmp_path / "m.json").read_text())
    assert list(record["metrics"]) == [
        "band_split",
        "long_tail",
        "gradient_spectrum",
        "fourier_heatmap",
    ]
    assert record["protocol"]["n_examples"] == 16


def test_a_new_value_of_a_field_several_blocks_read_re_runs_them_all(
    synthetic_checkpoint, tmp_path
):
    """The first re-run block to finish must not conflict with the old blocks this run is
    about to replace."""
    for n in (24, 16):
        result = evaluate(str(synthetic_checkpoint), metrics="clean,band_split",
                          protocol=TINY.replace(n_examples=n), out_dir=tmp_path, name="m",
                          progress=False)  # fmt: skip
        assert sorted(result.ran) == ["band_split", "clean"] and not result.failed
    record = json.loads((tmp_path / "m.json").read_text())
    assert record["protocol"]["n_examples"] == 16
    assert record["metrics"]["clean"]["n"] == 16 and record["metrics"]["band_split"]["n"] == 16


def test_a_block_that_fails_to_merge_leaves_the_kept_block_s_files(
    synthetic_checkpoint, tmp_path, small_budget
):
    evaluate(str(synthetic_checkpoint), metrics="fourier_heatmap", protocol=TINY,
             out_dir=tmp_path, name="m", progress=False)  # fmt: skip
    heatmap = tmp_path / "m.heatmap.npy"
    kept = heatmap.read_bytes()
    later = plan_evaluation(
        str(synthetic_checkpoint), metrics="fourier_heatmap",
        protocol=TINY.replace(seed=1, heatmap_eps=0.5), out_dir=tmp_path, name="m",
        progress=False,
    )  # fmt: skip
    evaluate(
        str(synthetic_checkpoint),
        metrics="autoattack",
        protocol=TINY,
        out_dir=tmp_path,
        name="m",
        progress=False,
    )  # fmt: skip  (seed 0, written meanwhile)
    run_plans([later], LocalExecutor(), progress=False)
    later.close()
    assert "a record holds one protocol" in later.failed["fourier_heatmap"]
    assert heatmap.read_bytes() == kept
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".m.")) == []


# --- state files belong to their run ---------------------------------------------------


def _abandon(folder: str, block: str) -> None:
    """A run that writes its state and dies without cleaning up (as a killed one does)."""
    states = StateFiles(Path(folder), "m")
    states.path_for(block).write_text("{}")
    os._exit(0)


def test_a_live_run_s_state_is_kept_and_a_dead_run_s_is_resumed_or_removed(tmp_path):
    block_a, block_b, block_c = (f".m.autoattack.{c * 16}" for c in "abc")
    live = StateFiles(tmp_path, "m")
    live_file = live.path_for(block_a)
    live_file.write_text('{"live": true}')
    context = multiprocessing.get_context("fork")
    for block in (block_b, block_c):
        dead = context.Process(target=_abandon, args=(str(tmp_path), block))
        dead.start()
        dead.join()
    # Another record whose name extends this one's: its files are never this record's.
    longer = StateFiles(tmp_path, "m.x")
    longer_file = longer.path_for(f".m.x.autoattack.{'d' * 16}")
    longer_file.write_text("{}")
    other = StateFiles(tmp_path, "m")
    resumed = other.path_for(block_b)  # the same block as a dead run's: taken over
    assert resumed.read_text() == "{}"
    other.clean()  # the other dead state (cccc) goes; the live runs' stay
    states = sorted(p.name for p in tmp_path.glob("*.state.json"))
    assert states == sorted([live_file.name, resumed.name, longer_file.name])
    assert live_file.read_text() == '{"live": true}'
    assert len(list(tmp_path.glob("*.owner"))) == 3  # the live runs' and the other's
    other.close()
    live.close()
    longer.close()
    assert list(tmp_path.glob("*.owner")) == []


# --- a block's files are the ones it wrote ---------------------------------------------


@pytest.fixture(scope="module")
def heatmap_record(synthetic_checkpoint, tmp_path_factory) -> Path:
    """A real record of the Fourier heat map (its .npy and its figure beside it)."""
    out = tmp_path_factory.mktemp("heatmap")
    result = evaluate(str(synthetic_checkpoint), metrics="fourier_heatmap", protocol=TINY,
                      out_dir=out, name="m", progress=False)  # fmt: skip
    return result.path


def _reversed_map(path: Path) -> None:
    """Another model's map: the same shape and dtype, other numbers."""
    np.save(path, np.load(path)[::-1].copy())


ARTIFACT_CASES = {
    "a-3x3-array": lambda path: np.save(path, np.zeros((3, 3))),
    "another-model-s-map": _reversed_map,
    "an-object-array": lambda path: np.save(path, np.array([{}], dtype=object), allow_pickle=True),
    "text": lambda path: path.write_text("0.1 0.2 0.3\n"),
    "a-fifo": lambda path: (path.unlink(), os.mkfifo(path)),
    "deleted": lambda path: path.unlink(),
}


def _copy_record(source: Path, folder: Path) -> Path:
    folder.mkdir(parents=True)
    data = json.loads(source.read_text())
    for file_name in data["artifacts"].values():
        shutil.copy(source.parent / file_name, folder / file_name)
    shutil.copy(source, folder / source.name)
    return folder / source.name


@pytest.mark.parametrize("case", list(ARTIFACT_CASES))
def test_a_block_whose_file_was_swapped_is_run_again_and_refused_by_the_pages(
    case, heatmap_record, synthetic_checkpoint, tmp_path, capsys
):
    record = _copy_record(heatmap_record, tmp_path / "records" / "synthetic")
    written = json.loads(record.read_text())["evaluations"]["fourier_heatmap"]["artifacts"]
    assert set(written) == {"heatmap_npy", "heatmap_png"}
    npy = record.with_name("m.heatmap.npy")
    assert written["heatmap_npy"]["shape"] == [32, 32]  # the synthetic images' size
    ARTIFACT_CASES[case](npy)

    leaderboard = [
        "leaderboard",
        "--dataset",
        "synthetic",
        "--records-dir",
        str(tmp_path / "records"),
    ]
    assert main(leaderboard) == 2
    err = capsys.readouterr().err
    assert "m.heatmap.npy" in err and "Traceback" not in err and len(err.splitlines()) == 1

    code = main(_evaluate(synthetic_checkpoint, record.parent, metrics="fourier_heatmap"))
    out, err = capsys.readouterr()
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.startswith("  fourier_heatmap "))
    assert (
        "its stored block cannot be trusted: artifacts.heatmap_npy: " in line
        and "m.heatmap.npy" in line
    )
    assert np.load(npy).shape == (32, 32)  # the map is written again, and proves itself
    assert main(leaderboard) == 0
    capsys.readouterr()


def test_a_block_written_before_digests_has_its_files_checked_for_form(heatmap_record, tmp_path):
    """Without a digest, a map must still be numbers at the images' size; another model's map
    of that size cannot be told (the limit of records made before digests)."""
    from freqbench.records import load_record

    record = _copy_record(heatmap_record, tmp_path / "synthetic")
    data = json.loads(record.read_text())
    del data["evaluations"]["fourier_heatmap"]["artifacts"]
    record.write_text(json.dumps(data))
    npy = record.with_name("m.heatmap.npy")
    _reversed_map(npy)
    load_record(record)  # of the right form: trusted
    for damage, words in (
        (ARTIFACT_CASES["a-3x3-array"], "holds a (3, 3) array, not the block's (32, 32)"),
        (ARTIFACT_CASES["an-object-array"], "is not an .npy array of numbers"),
        (ARTIFACT_CASES["text"], "is not an .npy array of numbers"),
    ):
        damage(npy)
        with pytest.raises(UserError, match=re.escape(words)):
            load_record(record)


# --- nothing is lost silently ----------------------------------------------------------


def test_two_runs_of_one_block_with_other_settings_the_second_fails_naming_both(
    synthetic_checkpoint, tmp_path
):
    """Two terminals run ``--metrics clean`` on one record with 20 and 24 images, planned
    before either writes: the second to merge must not replace the first's block silently."""
    plans = [
        plan_evaluation(
            str(synthetic_checkpoint),
            metrics="clean",
            protocol=TINY.replace(n_examples=n),
            out_dir=tmp_path,
            name="m",
            progress=False,
        )
        for n in (20, 24)
    ]
    for plan in plans:
        run_plans([plan], LocalExecutor(), progress=False)
        plan.close()
    first, second = (plan.outcome for plan in plans)
    assert first.ran == ["clean"] and not first.failed
    assert second.user_error and "n_examples = 20 there and 24 here" in second.failed["clean"]
    record = json.loads((tmp_path / "m.json").read_text())
    assert record["metrics"]["clean"]["n"] == 20  # the first run's block is kept

    on_purpose = evaluate(str(synthetic_checkpoint), metrics="clean", protocol=TINY, out_dir=tmp_path,
                          name="m", progress=False)  # fmt: skip
    assert on_purpose.ran == ["clean"] and not on_purpose.failed
    assert on_purpose.reasons["clean"] == "replaces the stored block: n_examples 20 -> 24"
    assert json.loads((tmp_path / "m.json").read_text())["metrics"]["clean"]["n"] == 24


def test_replace_sets_the_old_record_and_its_files_aside(
    good_record, synthetic_checkpoint, tmp_path, capsys
):
    path, _ = good_record
    records = tmp_path / "records"
    _copy_record(path, records)
    before = {p.name: p.read_bytes() for p in records.iterdir()}
    other = _other_checkpoint(synthetic_checkpoint, tmp_path / "other")
    code = main(["evaluate", "--model", str(other), "--metrics", "clean", "--out", str(records),
                 "--name", "m", "--replace", *TINY_ARGS])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    (aside,) = (records / ".replaced").iterdir()
    assert aside.name.startswith("m-") and aside.name.endswith("Z")
    assert f"the record it replaced (--replace) and its files are in {aside}" in out
    assert {p.name: p.read_bytes() for p in aside.iterdir()} == before  # every byte kept
    assert sorted(p.name for p in records.iterdir()) == [".replaced", "m.json"]


def _other_checkpoint(checkpoint: Path, folder: Path) -> Path:
    import torch

    from freqbench.checkpoints import load_checkpoint, save_checkpoint

    model, info = load_checkpoint(checkpoint)
    with torch.no_grad():
        next(model.parameters()).add_(0.01)
    return save_checkpoint(model, folder / "model.safetensors", info)


def test_evaluate_never_writes_into_a_published_leaderboard(synthetic_checkpoint, tmp_path, capsys):
    board = tmp_path / "leaderboards" / "synthetic"
    board.mkdir(parents=True)
    (board / "leaderboard.toml").write_text('metrics = ["clean"]\n')
    for extra in ((), ("--replace",)):
        code = main(_evaluate(synthetic_checkpoint, board, *extra))
        err = capsys.readouterr().err
        assert code == 2 and "is a published leaderboard" in err and "freqbench submit" in err
    assert sorted(p.name for p in board.iterdir()) == ["leaderboard.toml"]


@pytest.mark.parametrize(
    ("name", "words"),
    [("nat.json", "pass --name nat"), ("", "must start with a letter or digit"),
     ("a/b", "no folder"), ("../m", "no folder")],
)  # fmt: skip
def test_a_record_name_is_a_plain_name(name, words, synthetic_checkpoint, tmp_path, capsys):
    argv = _evaluate(synthetic_checkpoint, tmp_path)
    argv[argv.index("--name") + 1] = name
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
