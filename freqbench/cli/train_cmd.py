"""Train a model with a registered recipe; --config reads a TOML file and flags override it.

Example: freqbench train --arch smallcnn --recipe trades+bass --dataset fashion-mnist
--epochs 5 --out runs/trades-bass. The output directory gets model.safetensors (+ .json
sidecar), train_log.jsonl, config.json and state.pt (for --resume).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from freqbench.cli.options import bounded
from freqbench.config import RANGES

if TYPE_CHECKING:
    from freqbench.training import TrainResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory of the run")
    parser.add_argument("--config", help="TOML file with any of the options below")
    # Every option flag's destination is the TrainConfig field it overrides.
    parser.add_argument(
        "--arch", dest="architecture", help="architecture (freqbench list architectures)"
    )
    parser.add_argument("--recipe", help="recipe (freqbench list recipes), e.g. trades+bass")
    parser.add_argument("--dataset", help="dataset (freqbench list datasets)")
    parser.add_argument("--epochs", type=bounded(RANGES["epochs"]))
    parser.add_argument("--batch-size", type=bounded(RANGES["batch_size"]))
    parser.add_argument("--lr", type=bounded(RANGES["lr"]), help="base learning rate of SGD")
    parser.add_argument("--schedule", choices=["cosine", "piecewise"], help="per-step schedule")
    parser.add_argument("--seed", type=bounded(RANGES["seed"]), help="0 to 2**63 - 1")
    parser.add_argument("--device", help="auto (default: CUDA when torch sees a GPU), cpu or cuda")
    parser.add_argument("--threat-model",
                        help="the ball adversarial recipes attack in and PGD-10 evaluates (default "
                        "Linf; L2 with pgd-at)")  # fmt: skip
    parser.add_argument("--eps", type=bounded(RANGES["eps"]),
                        help="attack radius (default: the dataset's under the threat model)")  # fmt: skip
    parser.add_argument("--bass-mode", choices=["augment", "dataset"], help="+bass recipes only")
    parser.add_argument("--bass-p", type=bounded(RANGES["bass_p"]),
                        help="BaSS probability in augment mode, in [0, 1] (0.5)")  # fmt: skip
    parser.add_argument("--label-shuffle", type=bounded(RANGES["label_shuffle"]),
                        help="fraction of labels permuted, in [0, 1]")  # fmt: skip
    parser.add_argument("--mixup-alpha", type=bounded(RANGES["mixup_alpha"]),
                        help="mixup Beta parameter (0 = off)")  # fmt: skip
    parser.add_argument("--data-dir", help="where the dataset files are")
    parser.add_argument("--max-train-examples", type=bounded(RANGES["max_train_examples"]),
                        help="train on the first N only")  # fmt: skip
    parser.add_argument("--eval-examples", type=bounded(RANGES["eval_examples"]),
                        help="test images evaluated per epoch")  # fmt: skip
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="continue the run in --out")
    group.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _summary(result: TrainResult) -> str:
    metrics = result.metrics

    def percent(key: str) -> str:
        value = metrics.get(key)
        return "-" if value is None else f"{100 * value:.2f}%"

    config = result.config
    images = f"first {metrics['eval_n']} test images" if metrics.get("eval_n") else "no test images"
    rows = {
        "recipe": config["recipe"] + (f" (bass_mode {config['bass_mode']})" if config["bass_mode"] else ""),
        "model": f"{config['architecture']} on {config['dataset']}",
        "epochs": str(metrics.get("epoch", "-")),
        "train loss": f"{metrics['loss']:.4f}" if "loss" in metrics else "-",
        f"test acc ({images})": percent("test_acc"),
        f"PGD-10 acc (eps {config['eps']:.4g}, {images})": percent("pgd10_acc"),
        "wall time": f"{result.seconds:.1f} s",
        "checkpoint": str(result.checkpoint),
        "log": str(result.log),
    }  # fmt: skip
    if result.reused:
        rows["wall time"] = f"{result.seconds:.1f} s (the run in --out was complete: reused)"
    problems = _degenerate(config, metrics)
    if problems:
        rows["DEGENERATE"] = "; ".join(problems)
    width = max(map(len, rows))
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows.items())


def _degenerate(config: dict, metrics: dict) -> list[str]:
    """What `evaluate` would flag in the last epoch's numbers (freqbench.records.degenerate_models)."""
    from freqbench.data import get_dataset_info
    from freqbench.metrics.degenerate_predictions import prediction_problems
    from freqbench.records.degenerate_models import implausible_robustness

    clean, robust = metrics.get("test_acc"), metrics.get("pgd10_acc")
    if clean is None:
        return []
    classes = get_dataset_info(config["dataset"]).num_classes
    found = prediction_problems(clean, [], classes)
    if robust is not None:
        found += implausible_robustness(config["recipe"], "PGD-10", robust, clean)
    return found


def run(args: argparse.Namespace) -> int:
    from freqbench.config import TrainConfig, load_config
    from freqbench.preflight import check_training

    config = load_config(args.config) if args.config else TrainConfig(source="command line")
    overrides = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(TrainConfig)
        if getattr(args, field.name, None) is not None
    }
    config = config.replace(**overrides)
    check_training(
        architecture=config.architecture,
        recipe=config.recipe,
        dataset=config.dataset,
        data_dir=config.data_dir,
        out=Path(args.out),
    )  # fmt: skip  (before torch is imported: a typo is said in a second)
    from freqbench.training import train

    result = train(
        config,
        args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=False if args.no_progress else None,
    )
    print(_summary(result))
    return 0
