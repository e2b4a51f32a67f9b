"""Metric plugins: an installed package's entry point makes a first-class metric.

The example plugin (examples/tail-noise-metric) is pip-installed into a temporary folder, as a
user installs it, and then shows in `list metrics`, runs in `evaluate`, stores its block in
the record and its column in the leaderboard, with no edit to freqbench. A plugin that fails
to load is named in a warning, and every other metric still runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from freqbench.metrics import registry
from tests.test_plugin_isolation import LISTED

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "tail-noise-metric"


def install_example(example: Path, target: Path) -> Path:
    """An example plugin package installed with pip into ``target`` (put on PYTHONPATH)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(example)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    target = install_example(EXAMPLE, tmp_path_factory.mktemp("site"))
    assert (target / "freqbench_tail_noise" / "__init__.py").is_file()
    return target


def freqbench(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI in a fresh process that sees the packages installed in ``site``."""
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO}"}
    return subprocess.run(
        [sys.executable, "-m", "freqbench.cli", *args],
        capture_output=True, text=True, timeout=300, env=env, cwd=cwd,
    )  # fmt: skip


@pytest.mark.slow
def test_installed_plugin_is_listed_and_has_its_protocol_option(installed):
    listed = freqbench(installed, "list", "metrics")
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert names == [*LISTED, "tail_noise", "frequency"]
    origins = {line.split()[0]: "plugin" in line for line in listed.stdout.splitlines()}
    assert [name for name, plugin in origins.items() if plugin] == ["tail_noise"]
    assert "(version 1, plugin freqbench-tail-noise 0.1.0)" in listed.stdout
    help_text = freqbench(installed, "evaluate", "--help").stdout
    assert "--tail-noise-eps" in help_text


@pytest.mark.slow
def test_installed_plugin_runs_into_the_record_and_the_leaderboard(
    installed, synthetic_checkpoint, tmp_path
):
    out = tmp_path / "leaderboards" / "synthetic"
    run = freqbench(
        installed, "evaluate", "--model", str(synthetic_checkpoint), "--metrics",
        "clean,tail_noise", "--n-examples", "64", "--out", str(out), "--name", "tiny",
        "--device", "cpu", "--tail-noise-eps", "2.0",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Tail-noise acc." in run.stdout  # the headline falls back to the declared columns
    record = json.loads((out / "tiny.json").read_text())
    block = record["metrics"]["tail_noise"]
    assert list(record["metrics"]) == ["clean", "tail_noise"]
    assert record["protocol"]["tail_noise_eps"] == 2.0 and block["eps"] == 2.0
    assert block["n"] == 64 and block["clean_accuracy"] == record["metrics"]["clean"]["accuracy"]
    assert block["drop"] == pytest.approx(block["clean_accuracy"] - block["accuracy"])
    assert record["evaluations"]["tail_noise"]["version"] == "1"

    leaderboard = ("leaderboard", "--dataset", "synthetic", "--records-dir", str(out.parent))
    # A page shows what its records and its committed list say, not what is installed.
    unlisted = freqbench(installed, *leaderboard)
    assert unlisted.returncode == 0, unlisted.stderr
    assert "Tail-noise" not in unlisted.stdout

    config = out / "leaderboard.toml"
    config.write_text('metrics = ["clean", "autoattack", "corruptions", "frequency", "filters", '
                      '"tail_noise"]\n')  # fmt: skip
    board = freqbench(installed, *leaderboard)
    assert board.returncode == 0, board.stderr
    header = next(line for line in board.stdout.splitlines() if line.startswith("|"))
    assert "Tail-noise acc." in header
    assert "| Tail-noise acc." in board.stdout  # and a row in the correlation table

    # Where the plugin is not installed, a list that names it is a clear error...
    bare = freqbench(Path("/nonexistent"), *leaderboard)
    assert bare.returncode == 2
    assert "lists unknown metric 'tail_noise'" in bare.stderr and "install" in bare.stderr
    # ... and without the list the record still loads; its block is kept and not shown.
    config.unlink()
    bare = freqbench(Path("/nonexistent"), *leaderboard)
    assert bare.returncode == 0, bare.stderr
    assert "Tail-noise" not in bare.stdout

    # A run where the plugin is not installed keeps the fields its block was computed with,
    # so that the block is still reused where it is.
    evaluate = ("evaluate", "--model", str(synthetic_checkpoint), "--n-examples", "64", "--out",
                str(out), "--name", "tiny", "--device", "cpu")  # fmt: skip
    elsewhere = freqbench(Path("/nonexistent"), *evaluate, "--metrics", "band_split")
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert json.loads((out / "tiny.json").read_text())["protocol"]["tail_noise_eps"] == 2.0
    back = freqbench(installed, *evaluate, "--metrics", "clean,tail_noise", "--tail-noise-eps", "2")
    assert back.returncode == 0, back.stderr
    assert "reused: clean, tail_noise" in back.stdout


@pytest.fixture()
def fresh_registry(monkeypatch, tmp_path):
    """An empty metric registry that loads again, with plugins from ``tmp_path``'s dist-infos."""
    from freqbench.records import checks as records

    monkeypatch.setattr(registry, "METRICS", registry.METRICS.fresh())
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    records.record_schema.cache_clear()
    records._record_validator.cache_clear()
    yield tmp_path
    records.record_schema.cache_clear()
    records._record_validator.cache_clear()
    sys.modules.pop("freqbench_tail_noise", None)


def _declare(site: Path, name: str, entry_points: str) -> None:
    """What pip writes for an installed distribution, as far as entry points are concerned."""
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[freqbench.metrics]\n{entry_points}\n")


def test_a_broken_plugin_is_named_and_the_others_still_run(fresh_registry):
    _declare(fresh_registry, "broken-plugin", "broken = no_such_module_here:SPEC")
    _declare(fresh_registry, "tail-noise", "tail_noise = freqbench_tail_noise:SPEC")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = registry.list_metrics()
    assert names == [*LISTED, "tail_noise"]
    messages = [str(w.message) for w in caught]
    assert any(
        "'broken'" in m and "no_such_module_here:SPEC" in m and "left out" in m for m in messages
    )


def test_an_entry_point_that_names_no_metric_is_refused(fresh_registry):
    _declare(fresh_registry, "odd-plugin", "odd = json:dumps")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert "odd" not in registry.list_metrics()
    assert any("'odd'" in str(w.message) and "not a MetricSpec" in str(w.message) for w in caught)


@pytest.mark.slow
def test_the_committed_pages_do_not_change_when_a_plugin_is_installed(installed):
    """Pages come from records and each folder's leaderboard.toml, not from what is installed."""
    for args in (("leaderboard", "--check"), ("validate",)):
        done = freqbench(installed, *args, cwd=REPO)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
