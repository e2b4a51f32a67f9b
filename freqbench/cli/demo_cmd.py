"""The main job on the embedded default: train smallcnn on real Fashion-MNIST, evaluate it with every metric.

Trains one epoch of natural training (skipped when the run in --out is complete), then writes
the full record on the quick protocol (200 images for AutoAttack and the heat map, the whole
test set for everything else) and prints its headline table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from freqbench.headline import headline_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("demo"), help="where the run and record go"
    )
    parser.add_argument("--epochs", type=int, default=1, help="natural-training epochs")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--data-dir", type=Path, help="folder with the Fashion-MNIST IDX files")


def run(args: argparse.Namespace) -> int:
    from freqbench.evaluate import evaluate
    from freqbench.protocol import Protocol
    from freqbench.training import TrainConfig, train

    start = time.perf_counter()
    config = TrainConfig(
        architecture="smallcnn", recipe="natural", dataset="fashion-mnist", epochs=args.epochs,
        device=args.device, data_dir=str(args.data_dir) if args.data_dir else None,
    )  # fmt: skip
    print(
        f"[1/2] training smallcnn (natural, {args.epochs} epoch) on Fashion-MNIST ...", flush=True
    )
    result = train(config, args.out / "smallcnn-natural", resume=True)
    trained = time.perf_counter()
    print(f"      done in {trained - start:.0f} s: {result.checkpoint}", flush=True)
    print("[2/2] evaluating: clean, AutoAttack, corruptions, frequency, filters ...", flush=True)
    record = evaluate(
        str(result.checkpoint), dataset="fashion-mnist", protocol=Protocol.quick("fashion-mnist"),
        out_dir=args.out / "records", device=args.device, data_dir=args.data_dir,
        name="smallcnn-natural-demo",
    )  # fmt: skip
    print()
    print(headline_table(record))
    timings = ", ".join(f"{k} {v:.0f} s" for k, v in record["timings"].items())
    print(f"\nrecord: {args.out / 'records' / 'smallcnn-natural-demo.json'}")
    print(
        f"evaluation: {time.perf_counter() - trained:.0f} s ({timings}); total {time.perf_counter() - start:.0f} s"
    )
    return 0
