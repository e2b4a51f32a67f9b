"""ImageNet streaming: decode throughput against timm's own loader, and memory against size.

Run ``python benchmarks/bench_imagenet.py [--images 5000] [--workers 2]`` from the repository
root. No ImageNet is needed: it writes a synthetic ImageFolder of JPEGs at ImageNet's typical
size (500 x 375, quality 90) under the names of RobustBench's listed images, in a scratch
folder. It prints:

1. Decode + preprocess throughput (images/s) of freqbench's stream (``imagenet``, timm's
   resolved test transform of resnet50) and of timm's validation loader (``create_dataset`` +
   ``create_loader``, as timm's ``validate.py`` builds it on a CPU) on the same folder, the
   same transform, batch size and number of worker processes; each read twice, the second
   timed (files in the page cache). Goal: freqbench >= 0.9x timm.
2. Peak resident memory of ``freqbench evaluate --metrics clean`` of ``timm:resnet10t``
   (random weights) on the first 500 and on all ``--images`` images, each in a fresh process:
   the evaluating process's own peak, and the largest decoding worker's. Goal: grows < 10%.

The load average is printed: other jobs on the same cores slow everything down.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

BATCH = 64


def write_folder(root: Path, n: int) -> Path:
    from freqbench.data.imagenet import robustbench_subset

    rng = np.random.default_rng(0)
    for name in robustbench_subset()[:n]:
        path = root / "val" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        coarse = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((500, 375), Image.BICUBIC)  # smooth, photo-like
        image.save(path, "JPEG", quality=90)
    return root


def freqbench_rate(root: Path, n: int, workers: int, preprocessing: str) -> float:
    from freqbench.data import load_dataset

    os.environ["FREQBENCH_DATA_WORKERS"] = str(workers)
    data = load_dataset("imagenet", n_examples=n, data_dir=root, preprocessing=preprocessing)
    for _ in data.batches(BATCH):  # warm the page cache
        pass
    start = time.perf_counter()
    count = sum(len(y) for _, y in data.batches(BATCH))
    return count / (time.perf_counter() - start)


def timm_rate(root: Path, workers: int, config: dict) -> float:
    from timm.data import create_dataset, create_loader

    dataset = create_dataset("", root=str(root / "val"), split="validation")
    loader = create_loader(
        dataset, input_size=config["input_size"], batch_size=BATCH, use_prefetcher=False,
        interpolation=config["interpolation"], mean=config["mean"], std=config["std"],
        num_workers=workers, crop_pct=config["crop_pct"], crop_mode=config["crop_mode"],
    )  # fmt: skip
    for _ in loader:
        pass
    start = time.perf_counter()
    count = sum(len(y) for _, y in loader)
    return count / (time.perf_counter() - start)


PEAK = """
import json, resource, sys
from freqbench.evaluate import evaluate
from freqbench.loading import ModelRef
from freqbench.protocol import Protocol
evaluate(ModelRef("timm:resnet10t", random_init=True), dataset="imagenet", data_dir=sys.argv[1],
         metrics="clean", protocol=Protocol(n_examples=int(sys.argv[2]), batch_size=64),
         progress=False)
print(json.dumps({"self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def peak_kib(root: Path, n: int, workers: int) -> dict:
    env = {**os.environ, "FREQBENCH_DATA_WORKERS": str(workers)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK, str(root), str(n)], capture_output=True, text=True,
        env=env, check=True,
    )  # fmt: skip
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import timm
    from timm.data import resolve_data_config

    from freqbench.data.imagenet import robustbench_subset
    from freqbench.data.preprocessing import timm_config

    config = resolve_data_config({}, model=timm.create_model("resnet50"), use_test_size=True)
    preprocessing = timm_config(config).name
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {preprocessing}")
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        root = write_folder(Path(scratch), args.images)
        print(f"wrote {args.images} JPEGs of 500x375 in {time.perf_counter() - start:.0f} s")
        n_rate = min(args.images, 1000)
        ours = freqbench_rate(root, n_rate, args.workers, preprocessing)
        small = Path(scratch) / "timm-view"  # timm reads a whole folder: one of the same files
        for name in robustbench_subset()[:n_rate]:
            (small / "val" / name).parent.mkdir(parents=True, exist_ok=True)
            (small / "val" / name).symlink_to(root / "val" / name)
        theirs = timm_rate(small, args.workers, config)
        print(
            f"decode + preprocess, {n_rate} images, batch {BATCH}, {args.workers} workers: "
            f"freqbench {ours:.0f} img/s, timm {theirs:.0f} img/s, ratio {ours / theirs:.2f}"
        )
        few, many = peak_kib(root, 500, args.workers), peak_kib(root, args.images, args.workers)
        print(
            f"peak RSS of evaluate --metrics clean: 500 images {few['self'] / 1024:.0f} MiB "
            f"({few['s']:.0f} s), {args.images} images {many['self'] / 1024:.0f} MiB "
            f"({many['s']:.0f} s), ratio {many['self'] / few['self']:.3f}; largest decoding "
            f"worker {few['worker'] / 1024:.0f} / {many['worker'] / 1024:.0f} MiB"
        )


if __name__ == "__main__":
    main()
