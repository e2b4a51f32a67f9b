"""Grid files: the reference grid validates, bad grids are refused clearly, the runner resumes."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from freqbench.cli import main
from freqbench.cli.git import committer
from freqbench.errors import UserError
from freqbench.findings import write_findings
from freqbench.grid import GridPaths, GridRunner, grid_states, load_grid
from freqbench.grid.publish import trained_entry
from freqbench.grid.toml_writer import dumps
from freqbench.metrics import default_metrics, get_metric
from freqbench.protocol import Protocol, block_key
from freqbench.records.builder import drop_block
from freqbench.training import resolve
from freqbench.validation import validate_tree
from freqbench.zoo import entry_from_data, load_entry
from tests.conftest import shrink_autoattack
from tests.test_leaderboard import make_record, put

GRID = Path(__file__).resolve().parent.parent / "model_zoo" / "fashion-mnist" / "grid.toml"
ROWS = [
    "smallcnn-natural", "smallcnn-natural-smooth0.25", "smallcnn-natural-smooth1",
    "smallcnn-natural-bass", "smallcnn-pgd-at", "smallcnn-pgd-at-bass", "smallcnn-augmix",
    "smallcnn-augmix-bass", "smallcnn-trades", "smallcnn-trades-bass", "smallcnn-mart",
    "smallcnn-mart-bass", "smallcnn-fgsm-rs", "smallcnn-fgsm-rs-bass",
]  # fmt: skip


def test_reference_grid_has_14_rows_and_one_budget_per_bass_pair():
    spec = load_grid(GRID)
    assert [row.name for row in spec.rows] == ROWS
    trained = {row.recipe: row for row in spec.rows if row.trained}
    assert len(trained) == 12
    for recipe in ("natural", "pgd-at", "trades", "mart", "fgsm-rs", "augmix"):
        plain, bass = trained[recipe].config, trained[f"{recipe}+bass"].config
        assert plain.replace(recipe=bass.recipe) == bass  # only the recipe differs
    assert trained["pgd-at"].config.recipe_options == {"steps": 5, "step_size": 0.05}
    smoothed = [row for row in spec.rows if not row.trained]
    assert [(r.source, r.smooth["rho"]) for r in smoothed] == [
        ("smallcnn-natural", 0.25), ("smallcnn-natural", 1.0)
    ]  # fmt: skip
    assert {row.reference for row in spec.rows} == {None, "smallcnn-natural"}
    assert spec.row("smallcnn-natural").reference is None


def test_every_reference_row_makes_a_valid_zoo_entry():
    """Each row's resolved config (None options included, e.g. augmix's depth) writes as TOML."""
    spec = load_grid(GRID)
    for row in spec.rows:
        if not row.trained:
            continue
        config = resolve(row.config).as_dict()
        entry = trained_entry(spec, row, config, "ab" * 32, 12.34)
        parsed = entry_from_data(tomllib.loads(dumps(entry)), Path(f"{row.name}.toml"))
        assert parsed.name == row.name and parsed.recipe == row.recipe
        expected = {k: v for k, v in config["recipe_options"].items() if v is not None}
        assert parsed.training["recipe_options"] == expected
        assert parsed.training["epochs"] == 1 and parsed.training["wall_seconds"] == 12.3


def test_toml_writer_against_a_hand_written_file():
    data = {
        "name": 'a "quoted" name',
        "skipped": None,
        "flag": True,
        "weights": {"path": "w.safetensors", "size": 3},
        "training": {"recipe_options": {"steps": 5, "depth": None, "step size": 0.05}},
    }
    assert dumps(data, "header") == (
        "# header\n"
        'name = "a \\"quoted\\" name"\n'
        "flag = true\n"
        "\n[weights]\n"
        'path = "w.safetensors"\n'
        "size = 3\n"
        "\n[training]\n"
        'recipe_options = {steps = 5, "step size" = 0.05}\n'
    )
    assert tomllib.loads(dumps(data))["training"]["recipe_options"] == {
        "steps": 5,
        "step size": 0.05,
    }


def test_reference_grid_passes_validate():
    report = validate_tree([GRID])
    assert report.problems == [] and report.n_grids == 1


GOOD = """\
dataset = "synthetic"
architecture = "smallcnn"
recipes = ["natural", "pgd-at"]
bass = [false, true]
reference = "natural"
[training]
epochs = 1
[recipe_options.pgd-at]
steps = 2
[[smoothed]]
of = "natural"
rho = 1.0
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('reference = "natural"', 'referense = "natural"', "Did you mean 'reference'"),
        ('"pgd-at"]', '"pgd-at+bass"]', "list plain recipes"),
        ('"pgd-at"]', '"pgd_at"]', "Did you mean: pgd-at"),
        ("[recipe_options.pgd-at]", "[recipe_options.trades]", "[recipe_options.trades] names 'trades', which is not one of this grid's recipes (natural, pgd-at)"),
        ("steps = 2", "stepz = 2", "(row pgd-at): train config [recipe_options]: unknown key 'stepz'"),
        ("epochs = 1", 'epochs = 1\nrecipe = "natural"', "may not set 'recipe'"),
        ('of = "natural"', 'of = "mart"', "of names 'mart', which is not one of this grid's recipes (natural, natural+bass, pgd-at, pgd-at+bass)"),
        ('reference = "natural"', 'reference = "naturall"', "Did you mean 'natural'?"),
        ("rho = 1.0", "rho = 0", "'rho' must be a number > 0"),
        ("rho = 1.0", 'rho = 1.0\nlayers = "last"', "'layers' must be"),
        ("epochs = 1", "epochs = 0", "epochs must be an integer in [1, 2**63 - 1], got 0"),
        ('bass = [false, true]', 'bass = "yes"', "'bass' must be a list"),
    ],
)  # fmt: skip
def test_bad_grids_are_refused_with_the_file_and_the_fix(tmp_path, old, new, message):
    assert old in GOOD
    path = tmp_path / "grid.toml"
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(UserError, match=r"grid\.toml") as error:
        load_grid(path)
    assert message in str(error.value)


def _status(output: str) -> dict[str, str]:
    """{row: status} from the dry-run table (columns are separated by two or more spaces)."""
    rows = [re.split(r"\s{2,}", line) for line in output.splitlines()[1:-2]]
    return {row[0]: row[-1] for row in rows}


def test_dry_run_lists_the_rows_and_which_are_done(tmp_path, capsys):
    grid = tmp_path / "model_zoo" / "fashion-mnist" / "grid.toml"
    grid.parent.mkdir(parents=True)
    grid.write_text(GRID.read_text())
    args = ["grid", str(grid), "--dry-run", "--runs-dir", str(tmp_path / "runs"),
            "--records-dir", str(tmp_path / "records")]  # fmt: skip
    assert main(args) == 0
    output = capsys.readouterr().out
    assert list(_status(output)) == ROWS
    assert set(_status(output).values()) == {"not started", "not smoothed yet"}
    assert output.splitlines()[-2:] == [
        "0 of 14 rows done",
        "no steps finished on this machine yet",
    ]

    # A published and evaluated natural row, and a pgd-at run with its one epoch saved.
    weights = grid.parent / "weights" / "smallcnn-natural.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(b"not really weights")
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    (grid.parent / "smallcnn-natural.toml").write_text(
        'name = "smallcnn-natural"\ndataset = "fashion-mnist"\narchitecture = "smallcnn"\n'
        f'[weights]\npath = "weights/smallcnn-natural.safetensors"\nsha256 = "{sha}"\n'
    )
    record = tmp_path / "records" / "fashion-mnist" / "smallcnn-natural.json"
    record.parent.mkdir(parents=True)
    # Its clean, corruption and filter blocks are of older metric versions.
    older = ("clean", "corruptions", "filters")
    record.write_text(json.dumps(_current_record(sha, STANDARD_FASHION_MNIST, older=older)))
    assert main(args) == 0
    status = _status(capsys.readouterr().out)
    assert status["smallcnn-natural"] == "trained; to evaluate: clean, corruptions, filters"
    done = _current_record(sha, STANDARD_FASHION_MNIST)
    record.write_text(json.dumps(done))
    run = tmp_path / "runs" / "smallcnn-pgd-at"
    run.mkdir(parents=True)
    (run / "train_log.jsonl").write_text('{"epoch": 1}\n')
    assert main(args) == 0
    output = capsys.readouterr().out
    status = _status(output)
    assert status["smallcnn-natural"] == "done"
    assert status["smallcnn-pgd-at"] == "training: 1/1 epochs saved"
    assert status["smallcnn-trades"] == "not started"
    assert output.splitlines()[-2] == "1 of 14 rows done"

    # A record of other weights or another protocol is not the result; one that lacks
    # metrics says which blocks are left.
    for stale, detail in (
        (_current_record("0" * 64, STANDARD_FASHION_MNIST), "trained, not evaluated"),
        (
            _current_record(sha, {**STANDARD_FASHION_MNIST, "autoattack_n_examples": 500}),
            "trained; to evaluate: autoattack",
        ),
        (
            _current_record(sha, STANDARD_FASHION_MNIST, metrics=("clean", "filters")),
            "trained; to evaluate: autoattack, corruptions, band_split, long_tail, "
            "gradient_spectrum, fourier_heatmap",
        ),
    ):
        record.write_text(json.dumps(stale))
        assert main(args) == 0
        assert _status(capsys.readouterr().out)["smallcnn-natural"] == detail


STANDARD_FASHION_MNIST = {
    "norm": "Linf", "eps": 0.1, "n_examples": 10000, "autoattack_n_examples": 1000,
    "heatmap_n_examples": 1000, "corruptions_n_examples": 10000, "heatmap_eps": 3.5,
    "heatmap_band_limit": 0, "seed": 0, "batch_size": 500, "q": 0.8,
    "corruptions_source": "generated", "shards": 1,
}  # fmt: skip


def _current_record(
    sha: str, protocol: dict, metrics: tuple[str, ...] | None = None, older: tuple[str, ...] = ()
) -> dict:
    """A record with ``metrics`` (all by default) keyed under ``protocol`` with today's metric
    versions, but those in ``older``: version 1, as the first records were written."""
    record = make_record(
        "smallcnn-natural", sha256=sha, autoattack_n_examples=protocol["autoattack_n_examples"]
    )
    for name in set(record["metrics"]) - set(metrics or record["metrics"]):
        drop_block(record, name)
    for name, block in list(record["metrics"].items()):
        put(record, name, block, {**protocol, "reference": None})
    for name in older:
        key = block_key(sha, "fashion-mnist", get_metric(name), protocol, version="1")
        record["evaluations"][name].update(version="1", key=key)
    return record


def test_grid_command_errors_exit_2(tmp_path, capsys):
    assert main(["grid", str(tmp_path / "missing.toml"), "--dry-run"]) == 2
    assert "does not exist" in capsys.readouterr().err


TINY = Protocol(n_examples=24, autoattack_n_examples=8, heatmap_n_examples=4, batch_size=64)
TINY_GRID = """\
dataset = "synthetic"
architecture = "smallcnn"
recipes = ["natural"]
bass = [false, true]
reference = "natural"
[training]
epochs = 1
batch_size = 32
max_train_examples = 64
eval_examples = 0
[[smoothed]]
of = "natural"
rho = 1.0
[metadata]
authors = "tests"
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture()
def tiny_repo(tmp_path, monkeypatch):
    """A git repository with a 3-row synthetic grid; the standard protocol shrunk to TINY."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(Protocol, "standard", classmethod(lambda cls: TINY))
    shrink_autoattack(monkeypatch)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.name", "test")
    _git(tmp_path, "config", "user.email", "test@example.com")
    (tmp_path / ".gitignore").write_text("runs/\n")
    grid = tmp_path / "model_zoo" / "synthetic" / "grid.toml"
    grid.parent.mkdir(parents=True)
    grid.write_text(TINY_GRID)
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "grid")
    return tmp_path


@pytest.mark.slow
def test_runner_trains_evaluates_commits_and_then_skips(tiny_repo, monkeypatch):
    spec = load_grid(Path("model_zoo/synthetic/grid.toml"))
    paths = GridPaths(runs=Path("runs"), records=Path("leaderboards"))
    messages: list[str] = []
    runner = GridRunner(
        spec, paths, progress=False, say=messages.append, on_published=committer(messages.append),
        more_pages=lambda spec, paths: [write_findings(spec, paths.records)],  # as the CLI does
    )  # fmt: skip
    states = runner.run()
    assert [s.detail for s in states] == ["done"] * 3, messages
    names = ["smallcnn-natural", "smallcnn-natural-smooth1", "smallcnn-natural-bass"]
    assert [s.row.name for s in states] == names
    log = _git(tiny_repo, "log", "--format=%s").splitlines()[:-1]
    # Each checkpoint is committed as soon as it is published, the records with the pages once.
    assert list(reversed(log)) == [f"Grid row {name}: trained" for name in names] + [
        "Grid: 3 of 3 rows evaluated"
    ]
    tracked = _git(tiny_repo, "ls-files").splitlines()
    for name in names:
        assert f"model_zoo/synthetic/{name}.toml" in tracked
        assert f"leaderboards/synthetic/{name}.json" in tracked
    assert "model_zoo/synthetic/weights/smallcnn-natural.safetensors" in tracked
    smoothed_entry = load_entry(Path("model_zoo/synthetic/smallcnn-natural-smooth1.toml"))
    assert (
        smoothed_entry.weights
        == load_entry(Path("model_zoo/synthetic/smallcnn-natural.toml")).weights
    )
    assert "leaderboards/synthetic/README.md" in tracked
    assert "leaderboards/synthetic/FINDINGS.md" in tracked  # the dataset's grid: its findings too
    assert _git(tiny_repo, "status", "--porcelain") == ""  # every finished file is committed
    assert validate_tree().problems == []
    ledger = [json.loads(line) for line in Path("runs/ledger.jsonl").read_text().splitlines()]
    assert sorted((e["row"], e["step"]) for e in ledger) == sorted(
        [(n, "evaluate") for n in names] + [(n, "train") for n in (names[0], names[2])]
    )
    assert all(e["cpu_seconds"] >= 0 and e["wall_seconds"] >= 0 for e in ledger)

    bass = json.loads(Path("leaderboards/synthetic/smallcnn-natural-bass.json").read_text())
    assert bass["metrics"]["filters"]["distribution_shift"]["reference"] == "smallcnn-natural"
    assert bass["model"]["recipe"] == "natural+bass"
    smooth = json.loads(Path("leaderboards/synthetic/smallcnn-natural-smooth1.json").read_text())
    assert smooth["model"]["transform"]["smooth_kernels"]["rho"] == 1.0

    # Everything is done: a second run trains and evaluates nothing and commits nothing.
    def refuse(*args, **kwargs):
        raise AssertionError("a done row was run again")

    monkeypatch.setattr("freqbench.evaluate.run_block", refuse)
    monkeypatch.setattr("freqbench.grid.runner.train_row", refuse)
    runner.run()
    assert len(_git(tiny_repo, "log", "--format=%s").splitlines()) == 5


@pytest.mark.slow
def test_train_only_publishes_and_commits_checkpoints_without_evaluating(tiny_repo, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("--train-only evaluated a row")

    monkeypatch.setattr("freqbench.evaluate.run_block", refuse)
    spec = load_grid(Path("model_zoo/synthetic/grid.toml"))
    paths = GridPaths(runs=Path("runs"), records=Path("leaderboards"))
    runner = GridRunner(
        spec, paths, train_only=True, progress=False, say=print, on_published=committer(print)
    )
    states = runner.run()
    assert [(s.trained, s.done) for s in states] == [(True, False)] * 3
    tracked = _git(tiny_repo, "ls-files").splitlines()
    assert "model_zoo/synthetic/weights/smallcnn-natural-bass.safetensors" in tracked
    assert not any(name.endswith(".json") and "leaderboards" in name for name in tracked)
    assert _git(tiny_repo, "status", "--porcelain") == ""


def _spy_blocks(monkeypatch, stop_after: int | None = None) -> list[tuple[str, str]]:
    """Record each evaluation task the runner hands out; with ``stop_after``, the driver is
    killed (KeyboardInterrupt) when that many have finished."""
    import freqbench.evaluate as evaluate
    from freqbench.evaluate.tasks import run_block

    ran: list[tuple[str, str]] = []

    def spy(task):
        if stop_after is not None and len(ran) == stop_after:
            raise KeyboardInterrupt
        ran.append((task.ref.ref, task.metric))
        return run_block(task)

    monkeypatch.setattr(evaluate, "run_block", spy)
    return ran


@pytest.mark.slow
def test_runner_redoes_only_the_missing_blocks(tiny_repo, monkeypatch):
    spec = load_grid(Path("model_zoo/synthetic/grid.toml"))
    paths = GridPaths(runs=Path("runs"), records=Path("leaderboards"))
    GridRunner(spec, paths, progress=False, say=lambda m: None).run()
    Path("leaderboards/synthetic/smallcnn-natural-bass.json").unlink()  # as if never written
    record = Path("leaderboards/synthetic/smallcnn-natural.json")
    data = json.loads(record.read_text())
    for key in ("metrics", "evaluations"):
        data[key].pop("fourier_heatmap")  # one block of another row missing
    record.write_text(json.dumps(data))
    ran = _spy_blocks(monkeypatch)
    GridRunner(spec, paths, progress=False, say=lambda m: None).run()
    every = [spec.name for spec in default_metrics()]
    assert sorted(ran) == sorted(
        [("smallcnn-natural", "fourier_heatmap")] + [("smallcnn-natural-bass", m) for m in every]
    )
    assert all(s.done for s in grid_states(spec, paths))


@pytest.mark.slow
def test_a_killed_driver_resumes_without_redoing_finished_blocks(tiny_repo, monkeypatch):
    spec = load_grid(Path("model_zoo/synthetic/grid.toml"))
    paths = GridPaths(runs=Path("runs"), records=Path("leaderboards"))
    first = _spy_blocks(monkeypatch, stop_after=7)
    with pytest.raises(KeyboardInterrupt):
        GridRunner(spec, paths, progress=False, say=lambda m: None).run()
    assert len(first) == 7  # 7 blocks are on disk when the driver dies
    records = {
        p.stem: json.loads(p.read_text()) for p in Path("leaderboards/synthetic").glob("*.json")
    }
    finished = {(name, m) for name, r in records.items() for m in r["evaluations"]}
    assert finished == set(first)
    again = _spy_blocks(monkeypatch)
    GridRunner(spec, paths, progress=False, say=lambda m: None).run()
    assert not set(again) & finished and len(again) == 3 * len(default_metrics()) - 7
    for name, record in records.items():  # the blocks written before the kill are untouched
        now = json.loads(Path(f"leaderboards/synthetic/{name}.json").read_text())
        for metric, evaluation in record["evaluations"].items():
            assert now["evaluations"][metric] == evaluation
    assert all(s.done for s in grid_states(spec, paths))
