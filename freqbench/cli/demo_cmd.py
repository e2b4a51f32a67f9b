"""The main job on the embedded default: train smallcnn on real Fashion-MNIST, evaluate it with every metric.

Trains one epoch of natural training (skipped when the run in --out is complete), then writes
the full record on the quick protocol (200 images for AutoAttack and the heat map, 1000 for
the corruptions, the whole test set for everything else) and prints its headline table. A
second run reuses both, and says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from freqbench.cli.options import add_device_argument, bounded
from freqbench.config import RANGES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("demo"), help="where the run and record go"
    )
    parser.add_argument(
        "--epochs", type=bounded(RANGES["epochs"]), default=1, help="natural-training epochs"
    )
    add_device_argument(parser)
    parser.add_argument("--data-dir", type=Path, help="folder with the Fashion-MNIST IDX files")


def run(args: argparse.Namespace) -> int:
    import time

    from freqbench.evaluate import evaluate, resolve_device
    from freqbench.headline import headline_table
    from freqbench.protocol import Protocol
    from freqbench.training import TrainConfig, train

    start = time.perf_counter()
    device = resolve_device(args.device)
    config = TrainConfig(
        architecture="smallcnn", recipe="natural", dataset="fashion-mnist", epochs=args.epochs,
        device=device, data_dir=str(args.data_dir) if args.data_dir else None,
    )  # fmt: skip
    print(
        f"[1/2] training smallcnn (natural, {args.epochs} epoch) on Fashion-MNIST ...", flush=True
    )
    result = train(config, args.out / "smallcnn-natural", resume=True)
    trained = time.perf_counter()
    if result.reused:
        print(f"      reused the model trained before: {result.checkpoint}", flush=True)
    else:
        print(f"      done in {trained - start:.0f} s: {result.checkpoint}", flush=True)
    print("[2/2] evaluating: clean, AutoAttack, corruptions, frequency, filters ...", flush=True)
    evaluation = evaluate(
        str(result.checkpoint), dataset="fashion-mnist", protocol=Protocol.quick(),
        out_dir=args.out / "records", device=device, data_dir=args.data_dir,
        name="smallcnn-natural-demo",
    )  # fmt: skip
    print()
    print(headline_table(evaluation.record))
    print(f"\nrecord: {evaluation.path}")
    if evaluation.ran:
        seconds = evaluation.record["evaluations"]
        timings = ", ".join(f"{k} {seconds[k]['seconds']:.0f} s" for k in evaluation.ran)
        print(f"evaluation: {time.perf_counter() - trained:.0f} s ({timings})")
    else:
        print("evaluation: reused the record (every block was done)")
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0
