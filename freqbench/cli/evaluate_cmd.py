"""Evaluate one model and write its record: clean, corruption, AutoAttack, frequency and filter metrics."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from freqbench.evaluate import evaluate
from freqbench.headline import headline_table
from freqbench.protocol import Protocol


def add_protocol_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by every command that evaluates (evaluate, demo, submit)."""
    group = parser.add_argument_group("protocol (defaults: the dataset's standard protocol)")
    group.add_argument("--protocol", choices=("standard", "quick"), default="standard",
                       help="quick: 200 AutoAttack and heat-map images")  # fmt: skip
    group.add_argument("--n-examples", type=int, help="test images for clean/corruption/frequency")
    group.add_argument("--autoattack-n-examples", type=int, help="first N test images attacked")
    group.add_argument("--heatmap-n-examples", type=int, help="images for the Fourier heat map")
    group.add_argument("--norm", choices=("Linf", "L2"), help="threat model (default Linf)")
    group.add_argument("--eps", type=float, help="attack radius (default: the dataset's)")
    group.add_argument("--seed", type=int, help="seed of AutoAttack, corruptions, heat map")
    group.add_argument("--batch-size", type=int, help="images per forward pass (default 500)")


def protocol_from_args(args: argparse.Namespace, dataset: str) -> Protocol:
    base = Protocol.quick(dataset) if args.protocol == "quick" else Protocol.standard(dataset)
    overrides = {
        field: getattr(args, field)
        for field in (
            "n_examples",
            "autoattack_n_examples",
            "heatmap_n_examples",
            "norm",
            "eps",
            "seed",
            "batch_size",
        )
        if getattr(args, field) is not None
    }
    return replace(base, **overrides)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="checkpoint path, model-zoo entry, timm:<name> or robustbench:<ds>/<tm>/<Name>")  # fmt: skip
    parser.add_argument("--dataset", help="evaluation dataset (default: the model's)")
    parser.add_argument("--metrics", default="all",
                        help="'all' or a comma list of: clean,autoattack,corruptions,frequency,filters")  # fmt: skip
    parser.add_argument("--out", type=Path, help="record folder (default leaderboards/<dataset>/)")
    parser.add_argument("--name", help="record name (default: the model's)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--reference", help="model for the filter distribution shift (e.g. the natural one)"
    )
    parser.add_argument("--data-dir", type=Path, help="where the dataset files are")
    parser.add_argument(
        "--corruptions-dir", type=Path, help="official CIFAR-10-C/100-C .npy folder"
    )
    parser.add_argument("--force", action="store_true", help="re-evaluate even if a record exists")
    add_protocol_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from freqbench.loading import load_model_ref  # resolve the dataset before building the protocol

    dataset = args.dataset or load_model_ref(args.model, None).dataset
    start = time.perf_counter()
    record = evaluate(
        args.model,
        dataset=dataset,
        metrics=args.metrics,
        protocol=protocol_from_args(args, dataset),
        out_dir=args.out or Path("leaderboards") / dataset,
        device=args.device,
        force=args.force,
        reference=args.reference,
        data_dir=args.data_dir,
        corruptions_dir=args.corruptions_dir,
        name=args.name,
    )
    print(headline_table(record))
    out = args.out or Path("leaderboards") / dataset
    print(f"\nrecord: {out / (record['name'] + '.json')}  ({time.perf_counter() - start:.0f} s)")
    return 0
