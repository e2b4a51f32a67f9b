"""Plot a dataset's spectrum: radial power law with mean R80, low/high splits, and BaSS before/after."""

from __future__ import annotations

import argparse
from pathlib import Path

from freqbench.bounds import INT64_MAX, NumberRange
from freqbench.cli.options import bounded

IMAGES = NumberRange(int, 1, INT64_MAX)  # at most the split: load_dataset says so


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="fashion-mnist", help="`freqbench list datasets`")
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument(
        "--n-examples", type=bounded(IMAGES), help="first N images (default: the whole split)"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    parser.add_argument("--data-dir", type=Path, help="where the dataset files are")


def run(args: argparse.Namespace) -> int:
    from freqbench.data import load_dataset
    from freqbench.plots.spectrum import plot_bass, plot_frequency_splits, plot_radial_spectrum
    from freqbench.spectral import scaled_radii

    data = load_dataset(args.dataset, args.split, args.n_examples, args.data_dir)
    images = data.take(0, len(data)).images  # a streamed dataset: decoded here, --n-examples of it
    fit = plot_radial_spectrum(images, args.out / "radial_spectrum.png")
    plot_frequency_splits(
        images[0], scaled_radii(images.shape[-2]), args.out / "frequency_splits.png"
    )
    plot_bass(images[0], args.out / "bass.png")
    print(f"{args.dataset} ({args.split}, {len(data)} images)")
    print(f"power-law slope of the radial power spectrum: {fit['slope']:.3f}")
    print(f"mean R80 (rings holding 80% of the non-DC power): {fit['mean_r80']:.3f}")
    print(
        f"plots: {', '.join(str(args.out / n) for n in ('radial_spectrum.png', 'frequency_splits.png', 'bass.png'))}"
    )
    return 0
