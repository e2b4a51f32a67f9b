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
from freqbench.executors import RayExecutor
from freqbench.grid import GridPaths, GridRunner, load_grid
from freqbench.protocol import Protocol
from tests.test_grid import TINY, tiny_repo  # noqa: F401  (a fixture)
from tests.test_imagenet import imagenet_root  # noqa: F401  (a fixture)

ray = pytest.importorskip("ray", reason='Ray is installed with pip install "freqbench[ray]"')
pytestmark = pytest.mark.slow  # each test starts a Ray cluster: seconds before the first task

FAST = Protocol(
    n_examples=24, autoattack_n_examples=8, heatmap_n_examples=4, batch_size=64, eps=0.25
)
METRICS = "clean,autoattack,corruptions,frequency,filters"
TIMING = ("seconds", "wall_seconds", "created", "executor", "versions")


#: A metric plugin that kills the process it runs in, once: a worker lost mid-task. The fault
#: lives here, in the tests, not in the executor.
CRASH_ONCE = """\
import os
from pathlib import Path

from freqbench.metrics import MetricSpec


def compute(model, data, *, clean_predictions):
    marker = Path(os.environ["FREQBENCH_TEST_CRASH_MARKER"])
    if not marker.exists():
        marker.touch()
        os._exit(1)  # the worker dies mid-task, as when a node is lost
    right = clean_predictions[: len(data)] == data.labels
    return {"accuracy": float(right.float().mean()), "n": len(data)}


SPEC = MetricSpec(
    name="crash_once", description="a test metric that kills its process once", version="1",
    compute=compute, reads=("n_examples",), needs=("clean_predictions",),
    schema={"type": "object", "required": ["accuracy", "n"]},
)
"""


@pytest.fixture(scope="module")
def marker(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fault") / "crashed-once"


@pytest.fixture(scope="module")
def ray_instance(marker, tmp_path_factory):
    """One local instance for the module, whose workers (and this driver) have the crash_once
    plugin installed; the marker file is made by the first run of that metric."""
    import os

    from freqbench.metrics import registry
    from freqbench.records import checks

    site = tmp_path_factory.mktemp("site")
    (site / "freqbench_crash_once.py").write_text(CRASH_ONCE)
    info = site / "freqbench_crash_once-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: freqbench-crash-once\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        "[freqbench.metrics]\ncrash_once = freqbench_crash_once:SPEC\n"
    )
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "FREQBENCH_TEST_CRASH_MARKER")}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), saved["PYTHONPATH"]]))
    os.environ["FREQBENCH_TEST_CRASH_MARKER"] = str(marker)  # read by the workers Ray starts
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        patch.setattr(registry, "METRICS", registry.METRICS.fresh())
        checks.record_schema.cache_clear()
        checks._record_validator.cache_clear()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield
        ray.shutdown()
        checks.record_schema.cache_clear()
        checks._record_validator.cache_clear()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


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
    marker.touch()  # the local run must not kill this process
    local = evaluate(
        str(synthetic_checkpoint), metrics=f"{METRICS},crash_once", protocol=FAST,
        out_dir=tmp_path / "local", name="m", progress=False, threads=1,
    )  # fmt: skip
    marker.unlink()
    with RayExecutor() as executor:
        remote = evaluate(
            str(synthetic_checkpoint), metrics=f"{METRICS},crash_once", protocol=FAST,
            out_dir=tmp_path / "ray", name="m", progress=False, executor=executor,
        )  # fmt: skip
    assert marker.exists()  # a worker did die mid-task, and Ray ran its task again
    assert "crash_once" in remote.record["metrics"] and not remote.failed
    assert _without_timings(remote.record) == _without_timings(local.record)


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


@pytest.mark.slow
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


@pytest.mark.slow
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
    from freqbench.scheduler import TaskStatus

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


def test_a_streamed_imagenet_evaluation_on_ray_equals_the_local_one(
    ray_instance,
    imagenet_root,  # noqa: F811
    tmp_path,
):
    """Ray's workers stream the JPEGs themselves, through the preprocessing the driver
    resolved (timm's, recorded in the protocol): the record is the local run's."""
    from freqbench.loading import ModelRef

    model = ModelRef("timm:resnet10t", random_init=True)
    options = {
        "dataset": "imagenet", "data_dir": imagenet_root, "metrics": "clean,autoattack,band_split",
        "protocol": Protocol(n_examples=4, autoattack_n_examples=2, shards=2, eps=0.25),
        "name": "m", "progress": False,
    }  # fmt: skip
    local = evaluate(model, out_dir=tmp_path / "local", threads=1, **options)
    with RayExecutor() as executor:
        remote = evaluate(model, out_dir=tmp_path / "ray", executor=executor, **options)
    assert remote.record["protocol"]["preprocessing"].startswith("timm:size=224")
    assert {e["executor"] for e in remote.record["evaluations"].values()} == {"ray"}
    assert _without_timings(remote.record) == _without_timings(local.record)
