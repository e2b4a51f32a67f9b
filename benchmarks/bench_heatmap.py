"""The Fourier heat map's cost at ImageNet resolution, in forward passes and seconds.

Run ``python benchmarks/bench_heatmap.py [--arch resnet50] [--images 8] [--band-limit 2]``
from the repository root. It builds timm's ``--arch`` with random weights and ``--images``
synthetic 224 x 224 images, then times, in one process on the same images and batch size:

1. freqbench's heat map (``fourier_heatmap`` with ``--band-limit``): perturbed images per
   second (one forward pass per basis and image);
2. the reference: plain forward passes of the clean images, as many as the heat map made.

The ratio says what the heat map adds to the forward passes themselves (building the bases,
perturbing, clipping). Then, for each heat-map protocol, the number of forward passes per
model and the time they take at the measured rate on this machine (a projection from the
rate, not a run of the whole map).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

PROTOCOLS = (  # (what, band limit, images)
    ("standard: whole spectrum, 1000 images", 0, 1000),
    ("quick: band limit 15 (31 x 31), 200 images", 15, 200),
    ("band limit 31 (63 x 63), 1000 images", 31, 1000),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--band-limit", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import timm

    from freqbench.architectures.normalize import NormalizedModel
    from freqbench.data import make_synthetic
    from freqbench.metrics import get_metric
    from freqbench.sensitivity import heatmap_bases

    torch.manual_seed(0)
    net = timm.create_model(args.arch, pretrained=False, num_classes=1000).eval()
    model = NormalizedModel(net, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)).eval()
    data = make_synthetic(args.images, size=224, channels=3, num_classes=1000)
    bases = len(heatmap_bases(224, 224, args.band_limit))
    passes = bases * args.images

    start = time.perf_counter()
    get_metric("fourier_heatmap").compute(
        model, data, heatmap_band_limit=args.band_limit, batch_size=args.batch_size,
        progress=False,
    )  # fmt: skip
    heatmap_seconds = time.perf_counter() - start

    repeated = data.images.repeat(-(-passes // args.images), 1, 1, 1)[:passes]
    start = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, passes, args.batch_size):
            model(repeated[first : first + args.batch_size])
    plain_seconds = time.perf_counter() - start

    rate = passes / heatmap_seconds
    print(f"{args.arch}, {args.images} images of 224 x 224, band limit {args.band_limit} "
          f"({bases} bases), batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"freqbench heat map:    {passes} forward passes in {heatmap_seconds:.1f} s, "
          f"{rate:.1f} images/s")  # fmt: skip
    print(f"plain forward passes:  {passes} in {plain_seconds:.1f} s, "
          f"{passes / plain_seconds:.1f} images/s")  # fmt: skip
    print(f"ratio (freqbench / plain time): {heatmap_seconds / plain_seconds:.2f}x")
    print("\nprojected per model at the heat map's rate measured above:")
    for what, limit, n in PROTOCOLS:
        count = len(heatmap_bases(224, 224, limit)) * n
        hours = count / rate / 3600
        print(f"  {what}: {len(heatmap_bases(224, 224, limit))} bases, {count:,} forward "
              f"passes, {hours:,.1f} h")  # fmt: skip


if __name__ == "__main__":
    main()
