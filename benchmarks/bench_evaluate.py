"""Cost of the evaluator against the plain ways of doing the same work, in one process.

Run ``python benchmarks/bench_evaluate.py [--aa-n N] [--heatmap-n N]``. On one smallcnn
trained for a few hundred steps on real Fashion-MNIST (synthetic 28x28 images if absent), it
prints, with ratios:

1. the ``autoattack`` metric against a direct ``pyautoattack`` call on the same images
   (target: ratio <= 1.02), checking that the robust flags are identical; then the same
   metric with a batch size tuned to the model;
2. the whole record (every metric on the same images) against AutoAttack alone
   (target <= 1.3: on a CPU this depends on how long AutoAttack runs, see the note printed);
3. the Fourier heat map against a loop over basis images and images with batch size 1
   (target >= 20x), on a subset for the loop, scaled per image and basis.

The corruption generator has its own benchmark: ``benchmarks/bench_corruptions.py``.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.nn.functional as F
from pyautoattack import AutoAttack

from freqbench.architectures import create_model
from freqbench.data import LabeledImages, load_dataset, make_synthetic
from freqbench.errors import UserError
from freqbench.metrics import get_metric
from freqbench.sensitivity import fourier_heatmap
from freqbench.spectral import fourier_basis, half_plane_indices


def _data() -> tuple[LabeledImages, LabeledImages, str]:
    try:
        return (
            load_dataset("fashion-mnist", "train"),
            load_dataset("fashion-mnist", "test"),
            "Fashion-MNIST",
        )
    except UserError:
        train = make_synthetic(4000, size=28, channels=1, split="train")
        return train, make_synthetic(2000, size=28, channels=1), "synthetic 28x28"


def _model(train: LabeledImages) -> torch.nn.Module:
    torch.manual_seed(0)
    info = train.info
    model = create_model(
        "smallcnn", info.num_classes, info.channels, image_size=28, mean=info.mean, std=info.std
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(300):
        idx = torch.randint(0, len(train), (128,))
        loss = F.cross_entropy(model(train.images[idx]), train.labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _direct(model, data, eps, batch_size):
    adversary = AutoAttack(model, norm="Linf", eps=eps, version="standard", device="cpu", seed=0)
    _, y_adv = adversary.run_standard_evaluation(data.images, data.labels, batch_size=batch_size)
    return (y_adv == data.labels).numpy()


@torch.inference_mode()
def _heatmap_loop(model, data: LabeledImages, eps: float, n_bases: int) -> float:
    """The plain way: one forward per (basis, image); returns seconds per (basis, image)."""
    _, c, h, w = data.images.shape
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for i, j in half_plane_indices(h, w)[:n_bases].tolist():
        basis = fourier_basis(h, w, i, j)
        for x in data.images:
            sign = torch.randint(0, 2, (c, 1, 1), generator=generator).float() * 2 - 1
            model((x + eps * sign * basis).clamp(0, 1)[None]).argmax(1)
    return (time.perf_counter() - start) / (n_bases * len(data))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--aa-n", type=int, default=200, help="AutoAttack images")
    parser.add_argument("--heatmap-n", type=int, default=200, help="heat-map images")
    args = parser.parse_args()
    torch.set_num_threads(2)
    train, test, source = _data()
    model = _model(train)
    eps = test.info.eps_for("Linf")
    aa_data = test.first(args.aa_n)
    print(f"smallcnn on {source}; load average {os.getloadavg()[0]:.2f}; torch threads 2\n")

    metric = get_metric("autoattack").compute
    direct_flags, t_direct = _timed(lambda: _direct(model, aa_data, eps, 500))
    ours, t_ours = _timed(
        lambda: metric(model, aa_data, eps=eps, seed=0, batch_size=500, progress=False)
    )
    same = bool((ours.arrays["robust_flags"] == direct_flags).all())
    _, t_tuned = _timed(
        lambda: metric(
            model, aa_data, eps=eps, seed=0, batch_size=aa_data.images.shape[0], progress=False
        )
    )
    rows = [
        ("pyautoattack, direct call (batch 500)", t_direct, 1.0),
        ("freqbench autoattack metric (batch 500)", t_ours, t_ours / t_direct),
        (f"freqbench, one batch of {len(aa_data)}", t_tuned, t_tuned / t_direct),
    ]
    print(f"1. AutoAttack standard, Linf eps {eps:g}, {len(aa_data)} images; robust accuracy "
          f"{ours.values['robust_accuracy']:.3f}; flags identical to the direct call: {same}")  # fmt: skip
    for name, seconds, ratio in rows:
        print(f"   {name:<44} {seconds:8.2f} s   ratio {ratio:5.3f}")

    heat_data = test.first(args.heatmap_n)
    everything = {
        "clean": lambda: get_metric("clean").compute(model, test, batch_size=500),
        "corruptions": lambda: get_metric("corruptions").compute(model, test.first(1000), batch_size=500, progress=False),
        "frequency": lambda: get_metric("frequency").compute(model, test, heatmap_n_examples=args.heatmap_n, batch_size=500, progress=False),
        "filters": lambda: get_metric("filters").compute(model, test),
    }  # fmt: skip
    spent = {name: _timed(fn)[1] for name, fn in everything.items()}
    total = t_ours + sum(spent.values())
    print(
        f"\n2. whole record vs AutoAttack alone: {total:.1f} s vs {t_ours:.1f} s, ratio {total / t_ours:.2f}"
    )
    for name, seconds in spent.items():
        print(f"   {name:<12} {seconds:7.2f} s")
    print(
        "   (the ratio falls as AutoAttack gets dearer: robust models, more images, a GPU for the rest)"
    )

    h = test.images.shape[-1]
    hm_eps = 4.0 * h / 32
    _, t_batched = _timed(
        lambda: fourier_heatmap(model, heat_data, eps=hm_eps, batch_size=500, progress=False)
    )
    n_pairs = len(half_plane_indices(h, h)) * len(heat_data)
    per_pair_loop = _heatmap_loop(model, test.first(20), hm_eps, n_bases=10)
    t_loop = per_pair_loop * n_pairs
    print(f"\n3. Fourier heat map, {len(half_plane_indices(h, h))} bases x {len(heat_data)} images")
    print(
        f"   batched (freqbench)          {t_batched:8.2f} s  {n_pairs / t_batched:10.0f} perturbed images/s"
    )
    print(
        f"   loop, batch 1 (extrapolated) {t_loop:8.2f} s  {1 / per_pair_loop:10.0f} perturbed images/s"
    )
    print(f"   speed-up {t_loop / t_batched:.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()
