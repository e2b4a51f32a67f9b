"""The Ray executor against the local one, with a real local Ray instance (ray.init(num_cpus=2)).

Sharded evaluations and a small grid end with the same records on both executors (timings
aside); a worker killed mid-task is re-run by Ray; without Ray, --executor ray says how to get
it. The tasks run in Ray's worker processes, where no test monkeypatch reaches: the runs use
an eps large enough that APGD-CE breaks every point at once, so AutoAttack stays fast.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from freqbench.evaluate import evaluate
from freqbench.executors import FAULT_ONCE, RayExecutor
from freqbench.grid import GridPaths, GridRunner, load_grid
from freqbench.protocol import Protocol
from tests.test_grid import TINY, tiny_repo  # noqa: F401  (a fixture)

ray = pytest.importorskip("ray", reason='Ray is installed with pip install "freqbench[ray]"')

FAST = Protocol(
    n_examples=24, autoattack_n_examples=8, heatmap_n_examples=4, batch_size=64, eps=0.25
)
METRICS = "clean,autoattack,corruptions,frequency,filters"
TIMING = ("seconds", "wall_seconds", "created", "executor", "versions")


@pytest.fixture(scope="module")
def marker(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fault") / "crashed-once"


@pytest.fixture(scope="module")
def ray_instance(marker):
    """One local instance for the module; the first task that runs in it kills its worker."""
    import os

    os.environ[FAULT_ONCE] = str(marker)  # read by the workers Ray starts from now on
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    del os.environ[FAULT_ONCE]


def _without_timings(record: dict) -> dict:
    evaluations = {
        name: {k: v for k, v in e.items() if k not in TIMING}
        for name, e in record["evaluations"].items()
    }
    return {**record, "created": None, "evaluations": evaluations}


def _both(checkpoint: Path, tmp_path: Path, protocol: Protocol) -> tuple[dict, dict]:
    """The record made locally and on Ray, each task on one torch thread (Ray's own), so that
    float sums run in the same order and the numbers agree bit for bit."""
    local = evaluate(
        str(checkpoint), metrics=METRICS, protocol=protocol, out_dir=tmp_path / "local",
        name="m", progress=False, threads=1,
    )  # fmt: skip
    with RayExecutor() as executor:
        remote = evaluate(
            str(checkpoint), metrics=METRICS, protocol=protocol, out_dir=tmp_path / "ray",
            name="m", progress=False, executor=executor,
        )  # fmt: skip
    assert {e["executor"] for e in remote.record["evaluations"].values()} == {"ray"}
    assert {e["threads"] for e in remote.record["evaluations"].values()} == {1}
    return local.record, remote.record


def test_a_worker_killed_mid_task_is_rerun_and_the_record_is_unchanged(
    ray_instance, marker, synthetic_checkpoint, tmp_path
):
    assert not marker.exists()
    local, remote = _both(synthetic_checkpoint, tmp_path, FAST)
    assert marker.exists()  # a worker did die mid-task, and Ray ran its task again
    assert _without_timings(remote) == _without_timings(local)


def test_sharded_evaluation_on_ray_equals_the_local_one(
    ray_instance, synthetic_checkpoint, tmp_path
):
    local, remote = _both(synthetic_checkpoint, tmp_path, FAST.replace(shards=2))
    assert _without_timings(remote) == _without_timings(local)
    shards = {name: e["shards"] for name, e in remote["evaluations"].items()}
    assert shards == {
        "clean": 1, "autoattack": 2, "corruptions": 2, "band_split": 1, "long_tail": 1,
        "gradient_spectrum": 1, "fourier_heatmap": 2, "filters": 1,
    }  # fmt: skip
    assert remote["protocol"]["shards"] == 2
    for artifact in ("m.heatmap.npy", "m.filters.png"):
        assert (tmp_path / "ray" / artifact).read_bytes() == (
            tmp_path / "local" / artifact
        ).read_bytes()


def test_a_grid_on_ray_ends_with_the_local_grid_s_records(ray_instance, tiny_repo, monkeypatch):  # noqa: F811
    """Float sums in training and evaluation depend on torch's thread count: both grids run
    every task on one thread (--threads 1)."""
    monkeypatch.setattr(Protocol, "standard", classmethod(lambda cls: TINY.replace(eps=0.25)))
    spec = load_grid(Path("model_zoo/synthetic/grid.toml"))
    records = {}
    for name in ("local", "ray"):
        paths = GridPaths(runs=Path(f"runs-{name}"), records=Path(f"leaderboards-{name}"))
        executor = RayExecutor() if name == "ray" else "local"
        said: list[str] = []
        runner = GridRunner(
            spec, paths, progress=False, say=said.append, executor=executor, threads=1
        )
        states = runner.run()
        assert [s.detail for s in states] == ["done"] * 3, said
        records[name] = {
            p.stem: _without_timings(json.loads(p.read_text()))
            for p in (paths.records / "synthetic").glob("*.json")
        }
        if name == "local":  # the ray grid trains the same rows again, from scratch
            for row in spec.rows:
                Path(f"model_zoo/synthetic/{row.name}.toml").unlink()
    assert records["ray"] == records["local"] and len(records["ray"]) == 3


def test_without_ray_the_executor_says_how_to_install_it(synthetic_checkpoint, tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from freqbench.cli import main\n"
        "sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "evaluate", "--model", str(synthetic_checkpoint),
         "--metrics", "clean", "--out", str(tmp_path), "--executor", "ray"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert 'pip install "freqbench[ray]"' in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_address_where_nothing_listens_is_a_clear_error_at_once(synthetic_checkpoint, tmp_path):
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "freqbench.cli", "evaluate", "--model", str(synthetic_checkpoint),
         "--metrics", "clean", "--out", str(tmp_path), "--executor", "ray",
         "--ray-address", f"127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"nothing answers at the Ray cluster address 127.0.0.1:{port}" in result.stderr
    assert f"ray start --head --port={port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_ray_tasks_report_their_start_progress_and_end(
    ray_instance, synthetic_checkpoint, tmp_path, capsys, monkeypatch
):
    """The driver says when each remote task starts and ends and hears its progress lines
    (shown beside its bar); the summary gives each block's wall time and its task time
    (summed over shards)."""
    from freqbench.cli import main
    from freqbench.evaluate import TaskStatus

    heard: list[str] = []
    hear = TaskStatus.hear
    monkeypatch.setattr(
        TaskStatus, "hear", lambda self, h, line: (heard.append(line), hear(self, h, line))
    )
    args = ["evaluate", "--model", str(synthetic_checkpoint), "--metrics", "clean,autoattack",
            "--n-examples", "24", "--autoattack-n-examples", "8", "--eps", "0.25", "--shards", "2",
            "--out", str(tmp_path), "--name", "m", "--executor", "ray"]  # fmt: skip
    assert main(args) == 0
    out, err = capsys.readouterr()
    for task in ("m: clean", "m: autoattack 1/2", "m: autoattack 2/2"):
        assert f"{task}: started" in err and f"{task}: done in" in err, err
    progress = re.compile(r"AutoAttack apgd-ce on \d+ images: \d+/\d+ passes")
    assert any(progress.match(line) for line in heard), heard  # a worker's own line
    line = next(line for line in out.splitlines() if line.startswith("  autoattack"))
    wall, task = (float(x) for x in re.findall(r"([\d.]+) s (?:wall|task time)", line))
    assert "in 2 shards" in line and wall > 0 and task > 0
