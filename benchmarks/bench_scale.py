"""Scale-out: the same work on the local executor and on Ray with 2 workers, in one process.

Run ``python benchmarks/bench_scale.py [--aa-n 100]`` from the repository root (real
Fashion-MNIST needed; about 15 minutes on 2 idle CPU cores). It prints wall times and ratios:

1. A sharded AutoAttack (standard version, Linf eps 0.1) of the zoo's ``smallcnn-pgd-at`` on
   the first ``--aa-n`` test images, ``--shards 2``: the local executor (one task after the
   other, torch with one thread, then with its default threads) against Ray with 2 workers
   (one CPU, one thread each). Target on 2 idle cores: Ray >= 1.6x the one-thread local run.
   The records are compared too: the same shards give the same robust flags.
2. A small grid (smallcnn natural and natural+bass, 2,000 training images, 1 epoch, the quick
   protocol) run by ``freqbench grid`` on both executors (local with one thread and with
   torch's default threads), in a scratch folder.

The load average is printed: other jobs on the same cores slow everything down.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from freqbench.evaluate import evaluate
from freqbench.executors import RayExecutor
from freqbench.grid import GridPaths, GridRunner, load_grid
from freqbench.protocol import Protocol

REPO = Path(__file__).resolve().parent.parent
GRID = """\
dataset = "fashion-mnist"
architecture = "smallcnn"
recipes = ["natural"]
bass = [false, true]
reference = "natural"
protocol = "quick"
[training]
epochs = 1
batch_size = 64
max_train_examples = 2000
eval_examples = 0
"""
TIMING = ("seconds", "created", "executor", "versions", "device")


def _timed(work: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def _numbers(record: dict) -> dict:
    """A record without what says when, where and how fast it ran."""
    evaluations = {
        k: {f: v for f, v in e.items() if f not in TIMING} for k, e in record["evaluations"].items()
    }
    return {**record, "created": None, "evaluations": evaluations}


def autoattack(n: int, workdir: Path) -> None:
    protocol = Protocol(autoattack_n_examples=n, shards=2)
    kwargs = {"metrics": "autoattack", "protocol": protocol, "progress": False, "name": "m"}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    one, t_one = _timed(lambda: evaluate("smallcnn-pgd-at", out_dir=workdir / "one", **kwargs))
    torch.set_num_threads(threads)
    _, t_default = _timed(
        lambda: evaluate("smallcnn-pgd-at", out_dir=workdir / "default", **kwargs)
    )
    with RayExecutor() as executor:
        ray, t_ray = _timed(
            lambda: evaluate(
                "smallcnn-pgd-at", out_dir=workdir / "ray", executor=executor, **kwargs
            )
        )
    same = _numbers(one.record) == _numbers(ray.record)
    acc = ray.record["metrics"]["autoattack"]["robust_accuracy"]
    print(f"1. AutoAttack of smallcnn-pgd-at, {n} images, 2 shards (robust accuracy {acc:.3f}; "
          f"records identical across executors: {same})")  # fmt: skip
    print(f"   local, torch 1 thread      {t_one:8.1f} s")
    print(f"   local, torch {threads} threads     {t_default:8.1f} s")
    print(f"   ray, 2 workers x 1 thread  {t_ray:8.1f} s   speed-up {t_one / t_ray:.2f}x over "
          f"1 thread, {t_default / t_ray:.2f}x over {threads} threads")  # fmt: skip


def grid(workdir: Path) -> None:
    times = {}
    threads = torch.get_num_threads()
    for name in ("local-1", "local", "ray"):
        torch.set_num_threads(1 if name == "local-1" else threads)
        root = workdir / f"grid-{name}"
        (root / "model_zoo" / "fashion-mnist").mkdir(parents=True)
        (root / "model_zoo" / "fashion-mnist" / "grid.toml").write_text(GRID)
        os.chdir(root)
        spec = load_grid(Path("model_zoo/fashion-mnist/grid.toml"))
        paths = GridPaths(records=Path("leaderboards"), runs=Path("runs"))
        executor = RayExecutor() if name == "ray" else "local"
        _, times[name] = _timed(
            lambda spec=spec, paths=paths, executor=executor: GridRunner(
                spec, paths, progress=False, say=lambda m: None, executor=executor
            ).run()
        )
        if name == "ray":
            executor.close()
        os.chdir(REPO)
    print("\n2. a grid of 2 rows (train 2,000 images for 1 epoch; every metric, quick protocol)")
    print(f"   local, torch 1 thread      {times['local-1']:8.1f} s")
    print(f"   local, torch {threads} threads     {times['local']:8.1f} s")
    print(
        f"   ray, 2 workers x 1 thread  {times['ray']:8.1f} s   speed-up "
        f"{times['local-1'] / times['ray']:.2f}x over 1 thread, "
        f"{times['local'] / times['ray']:.2f}x over {threads} threads"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--aa-n", type=int, default=100, help="images AutoAttack attacks")
    args = parser.parse_args()
    os.chdir(REPO)
    import ray

    print(
        f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; torch {torch.__version__}"
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        autoattack(args.aa_n, workdir)
        grid(workdir)
    finally:
        ray.shutdown()
        shutil.rmtree(workdir)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
