"""Why evaluation puts CPU models in channels-last layout: forward and forward+backward speed.

Run ``python benchmarks/bench_layout.py [--batch 500] [--threads N]``. For each architecture
it times the same model (same weights, same input) in PyTorch's default layout and after
``model.to(memory_format=torch.channels_last)`` (what ``freqbench.loading`` does on CPU), and
prints images/s for both, their ratio, and the largest logit difference.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from freqbench.architectures import create_model

SHAPES = {"smallcnn": (1, 28), "resnet18": (3, 32)}


def _rate(step, n_images: int, repeats: int) -> float:
    step()  # warm-up: oneDNN picks its kernels on the first call
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return repeats * n_images / (time.perf_counter() - start)


def bench(arch: str, batch: int, repeats: int) -> None:
    channels, size = SHAPES[arch]
    default = create_model(arch, in_channels=channels, image_size=size).eval()
    last = copy.deepcopy(default).to(memory_format=torch.channels_last)
    x = torch.rand(batch, channels, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        difference = (default(x) - last(x)).abs().max().item()
        forward = [_rate(lambda m=m: m(x), batch, repeats) for m in (default, last)]
    xg = x.clone().requires_grad_(True)

    def gradient(model: torch.nn.Module) -> None:
        torch.autograd.grad(model(xg).sum(), xg)

    backward = [_rate(lambda m=m: gradient(m), batch, repeats) for m in (default, last)]
    for name, (a, b) in (("forward", forward), ("forward+backward", backward)):
        print(
            f"{arch:<9} {name:<17} default {a:8.1f} img/s   channels-last {b:8.1f} img/s   "
            f"ratio {b / a:.2f}"
        )
    print(f"{arch:<9} largest logit difference {difference:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}")
    bench("smallcnn", args.batch, args.repeats)
    bench("resnet18", max(args.batch // 10, 1), args.repeats)


if __name__ == "__main__":
    main()
