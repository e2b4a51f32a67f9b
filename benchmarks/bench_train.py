"""Training throughput: recipes, the cost of BaSS, and the trainer against a bare loop.

Run ``python benchmarks/bench_train.py`` (about 2 minutes on 2 idle CPU cores). It prints:

1. ``smallcnn`` on Fashion-MNIST (the real files when installed, else synthetic 28x28x1),
   batch 128: training images/s of each recipe, and the ratio of the ``+bass`` recipe's step
   time to the plain one's on the same batches and the same number of steps. Target: BaSS
   adds at most 5% to a PGD-AT step (ratio <= 1.05).
2. ``resnet18`` on synthetic 32x32x3 images, a few steps at batch 16: the same columns.
3. The trainer (``freqbench.training.train``, natural recipe, no evaluation, its default
   batch of 64) against a bare loop written here (same model, data, batch size and
   optimizer; no schedule, logging or checkpoints). Target: the trainer reaches at least
   0.9 of the bare loop's images/s.

Plain and +bass steps alternate on the same batches and the table shows medians (the ratio
is the median of the per-batch ratios); the trainer and the bare loop alternate and the best
of three rounds counts. Both are the least noisy figures on shared cores. The load average is
printed, because other jobs on the same two cores slow everything down.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from freqbench import spectral
from freqbench.architectures import create_model
from freqbench.config import TrainConfig
from freqbench.data import get_dataset_info, load_dataset, make_synthetic
from freqbench.data.fashion_mnist import DEBIAN_DIR
from freqbench.recipes import create_recipe
from freqbench.training import train

THREADS = 2
RECIPES = ("natural", "pgd-at", "trades", "mart", "fgsm-rs", "augmix")
BASS_TARGET = 1.05
TRAINER_TARGET = 0.9
TRAINER_ROUNDS = 3


@dataclass(frozen=True)
class Setting:
    label: str
    architecture: str
    images: torch.Tensor
    labels: torch.Tensor
    batch_size: int
    steps: int
    eps: float


def _smallcnn_setting() -> Setting:
    steps = 8
    if (DEBIAN_DIR / "train-images-idx3-ubyte.gz").is_file():
        data = load_dataset("fashion-mnist", "train", n_examples=128 * steps)
        label = "smallcnn, Fashion-MNIST (real), batch 128"
    else:
        data = make_synthetic(128 * steps, size=28, channels=1, split="train")
        label = "smallcnn, synthetic 28x28x1 (no Fashion-MNIST installed), batch 128"
    eps = get_dataset_info("fashion-mnist").eps_for("Linf")
    return Setting(label, "smallcnn", data.images, data.labels, 128, steps, eps)


def _resnet_setting() -> Setting:
    steps = 3
    data = make_synthetic(16 * steps, size=32, channels=3, split="train")
    label = "resnet18, synthetic 32x32x3, batch 16"
    return Setting(label, "resnet18", data.images, data.labels, 16, steps, 8 / 255)


class _Stepper:
    """One model, optimizer and recipe; ``step`` times one optimizer step on a batch."""

    def __init__(self, setting: Setting, recipe: str):
        channels, size = setting.images.shape[1], setting.images.shape[-1]
        torch.manual_seed(0)
        self.model = create_model(setting.architecture, 10, channels, image_size=size).train()
        self.recipe = create_recipe(recipe, eps=setting.eps, architecture=setting.architecture)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.generator = torch.Generator().manual_seed(0)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        start = time.perf_counter()
        out = self.recipe.loss(self.model, x, y, self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        self.optimizer.step()
        return time.perf_counter() - start


def _paired_step_times(setting: Setting, name: str) -> tuple[float, float, float]:
    """Median step seconds of ``name`` and ``name+bass``, and the median of their ratios.

    The two alternate step by step on the same batches (after one warm-up step each), so
    a burst of load from other jobs hits both; the ratio is taken per batch.
    """
    plain, bass = _Stepper(setting, name), _Stepper(setting, f"{name}+bass")
    batches = list(
        zip(
            setting.images.split(setting.batch_size),
            setting.labels.split(setting.batch_size),
            strict=True,
        )
    )
    plain.step(*batches[0])
    bass.step(*batches[0])
    pairs = [(plain.step(x, y), bass.step(x, y)) for x, y in batches]
    ratios = [b / p for p, b in pairs]
    return (
        statistics.median(p for p, _ in pairs),
        statistics.median(b for _, b in pairs),
        statistics.median(ratios),
    )


def _recipe_table(setting: Setting) -> list[str]:
    rows = [f"{setting.label}, median of {setting.steps} steps", ""]
    header = f"{'recipe':<10} {'images/s':>10} {'+bass images/s':>15} {'bass/plain time':>16}"
    rows += [header, "-" * len(header)]
    pgd_step = 0.0
    for name in RECIPES:
        plain, bass, ratio = _paired_step_times(setting, name)
        flag = ""
        if name == "pgd-at":
            pgd_step = plain
            flag = "  (target <= 1.05)" if ratio <= BASS_TARGET else "  MISSED 1.05"
        rows.append(
            f"{name:<10} {setting.batch_size / plain:>10.1f} "
            f"{setting.batch_size / bass:>15.1f} {ratio:>16.3f}{flag}"
        )
    batch = setting.images[: setting.batch_size]
    bass_seconds = statistics.median(_seconds(lambda: spectral.bass(batch)) for _ in range(9))
    rows.append(
        f"BaSS of a whole batch: {1000 * bass_seconds:.1f} ms, "
        f"{100 * bass_seconds / pgd_step:.2f}% of the median PGD-AT step"
    )
    return rows


def _seconds(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _best(rounds: int, runs: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Best time of each run over ``rounds``, the runs alternating within each round."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for key, run in runs.items():
            best[key] = min(best[key], run())
    return best


def _bare_loop(dataset: str, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> float:
    """The reference: a plain SGD epoch over in-memory tensors, nothing else."""
    info = get_dataset_info(dataset)
    torch.manual_seed(0)
    model = create_model(
        "smallcnn", 10, info.channels, image_size=info.image_size[0], mean=info.mean, std=info.std
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for index in torch.randperm(len(labels), generator=generator).split(batch_size):
        loss = F.cross_entropy(model(images[index]), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def _trainer_table(n_images: int) -> list[str]:
    real = (DEBIAN_DIR / "train-images-idx3-ubyte.gz").is_file()
    dataset = "fashion-mnist" if real else "synthetic"
    n_images = n_images if real else min(n_images, 1024)  # the synthetic train split's size
    data = load_dataset(dataset, "train", n_examples=n_images)  # also warms the file cache
    config = TrainConfig(dataset=dataset, epochs=1, max_train_examples=n_images, eval_examples=0)
    loop_seconds: list[float] = []

    def trainer() -> float:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            result = train(config, out, progress=False)
            whole = time.perf_counter() - start
        loop_seconds.append(result.metrics["seconds"])
        return whole

    times = _best(
        TRAINER_ROUNDS,
        {
            "bare": lambda: _bare_loop(dataset, data.images, data.labels, config.batch_size),
            "trainer": trainer,
        },
    )
    bare = n_images / times["bare"]
    loop = n_images / min(loop_seconds)
    whole = n_images / times["trainer"]
    label = "Fashion-MNIST" if real else "synthetic 32x32x3 (no Fashion-MNIST installed)"
    batch = config.batch_size
    rows = [f"trainer vs bare loop: natural smallcnn, {n_images} {label} images, batch {batch}", ""]
    header = f"{'loop':<40} {'images/s':>10} {'ratio':>7}"
    rows += [header, "-" * len(header)]
    rows.append(f"{'bare loop (this file)':<40} {bare:>10.1f} {1:>7.3f}")
    verdict = "target >= 0.9" if loop / bare >= TRAINER_TARGET else "MISSED 0.9"
    rows.append(f"{'trainer, training steps':<40} {loop:>10.1f} {loop / bare:>7.3f}  ({verdict})")
    rows.append(
        f"{'trainer, whole call (setup, checkpoints)':<40} {whole:>10.1f} {whole / bare:>7.3f}"
    )
    return rows


def main() -> None:
    torch.set_num_threads(THREADS)
    start = time.perf_counter()
    print(f"torch {torch.__version__}, {THREADS} threads, load average {os.getloadavg()[0]:.2f}\n")
    for setting in (_smallcnn_setting(), _resnet_setting()):
        print("\n".join(_recipe_table(setting)), end="\n\n", flush=True)
    print("\n".join(_trainer_table(64 * 80)), end="\n\n")
    print(f"load average {os.getloadavg()[0]:.2f}; total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
