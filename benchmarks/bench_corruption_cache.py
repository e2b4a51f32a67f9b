"""The corruption metric with its cache against generating every corruption set again.

Run ``python benchmarks/bench_corruption_cache.py [--n N]``. On the first N real
Fashion-MNIST test images (default 1000; the standard protocol uses 10000) with one trained
smallcnn from the zoo (``smallcnn-natural``), and on N synthetic CIFAR-shaped images (32x32
RGB, ``make_synthetic``) with a smallcnn for 3 channels, it times in one process:

- freqbench's way for a second model: the corruption metric reading the 75 cells a first
  evaluation left in the array cache (a fresh cache folder, filled by one run beforehand);
- the reference way: the same metric generating all 75 cells (an empty cache each time),
  which is what every model cost before the cache.

Both give the same numbers (checked); it prints both times and their ratio. The target of the
issue that brought the cache: a cache hit costs at most 10% of the first model's time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from freqbench.architectures import create_model
from freqbench.data import load_dataset, make_synthetic
from freqbench.loading import load_model_ref
from freqbench.metrics import get_metric


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def measure(label: str, model, data) -> None:
    compute = get_metric("corruptions").compute
    with tempfile.TemporaryDirectory() as filled, tempfile.TemporaryDirectory() as empty:
        first, made = timed(lambda: compute(model, data, cache_dir=Path(filled), progress=False))
        hit, read = timed(lambda: compute(model, data, cache_dir=Path(filled), progress=False))
        again, remade = timed(lambda: compute(model, data, cache_dir=Path(empty), progress=False))
    assert read.values == made.values == remade.values
    predict, _ = timed(lambda: predict_only(model, data))
    print(f"corruptions of {len(data)} {label} images, smallcnn, 2 torch threads")
    print(f"  first model (generates and caches):  {first:7.1f} s")
    print(f"  reference (generates, no cache):     {again:7.1f} s")
    print(f"  next model (reads the cache):        {hit:7.1f} s")
    print(f"  of which predicting 75 x {len(data)} images: {predict:7.1f} s")
    print(f"  ratio next / reference:              {hit / again:7.3f}  (target <= 0.10)")


def predict_only(model, data) -> None:
    """The model on 75 copies of the images: the work no cache can save."""
    from freqbench.prediction import predict

    for _ in range(75):
        predict(model, data.images, 500, "cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="test images (default 1000)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    fashion = load_dataset("fashion-mnist", "test").first(args.n)
    measure("Fashion-MNIST", load_model_ref("smallcnn-natural", "fashion-mnist").model, fashion)
    rgb = make_synthetic(args.n, size=32, channels=3, num_classes=10)
    torch.manual_seed(0)
    model = create_model("smallcnn", 10, 3, image_size=32).eval()
    measure("synthetic 32x32 RGB", model, rgb)


if __name__ == "__main__":
    main()
