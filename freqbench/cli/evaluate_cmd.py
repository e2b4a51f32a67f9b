"""Evaluate one model and write its record: clean, corruption, AutoAttack, frequency and filter metrics.

Records go to runs/records/<dataset>/ unless --out says otherwise: experiments stay out of
the committed leaderboard (`freqbench submit` writes there). Only the metric blocks that the
record lacks, or holds for other weights, another metric version or other protocol settings,
are run; the others are reused. --force re-runs the metrics named in --metrics.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from freqbench.cli.options import (
    add_cache_argument,
    add_device_argument,
    add_executor_arguments,
    add_protocol_arguments,
    executor_from_args,
    protocol_from_args,
)
from freqbench.paths import SCRATCH_RECORDS_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="checkpoint path, model-zoo entry, timm:<name>[@<tag>] (pretrained), "
                        "robustbench:<ds>/<tm>/<Name>, or an architecture with --weights / --random-init")  # fmt: skip
    parser.add_argument("--dataset", help="evaluation dataset (default: the model's)")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument(
        "--weights", type=Path,
        help="a state dict (.safetensors, or .pt read with weights_only) for --model given as an "
        "architecture (freqbench list architectures, or timm:<name>)",
    )  # fmt: skip
    parser.add_argument(
        "--input-normalization", metavar="none|MEAN/STD",
        help="with --weights: the per-channel normalization the weights were trained with, put "
        "inside the model (images stay in [0, 1]): none, or e.g. 0.485,0.456,0.406/0.229,"
        "0.224,0.225 (default: freqbench's own for the dataset, which --weights of a freqbench "
        "model expect)",
    )  # fmt: skip
    weights.add_argument(
        "--random-init", action="store_true",
        help="evaluate --model's architecture with random weights (seed 0; a timm model, "
        "timm:<name>[@<tag>], inside its pretrained_cfg's mean and std); such a record never "
        "enters a leaderboard",
    )  # fmt: skip
    parser.add_argument("--metrics", default="all",
                        help="'all' or a comma list of metrics (freqbench list metrics)")  # fmt: skip
    parser.add_argument(
        "--threat-model",
        help="evaluate under this threat model (freqbench list threat-models): a norm ball "
        "(Linf, L2, L1: the attacks' --norm) or a corruption set (its metric is run)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path,
        help=f"record folder (default {SCRATCH_RECORDS_DIR}/<dataset>/; the leaderboard's "
        "records are written by `freqbench submit`)",
    )  # fmt: skip
    parser.add_argument("--name", help="record name (default: the model's)")
    add_device_argument(parser)
    parser.add_argument("--data-dir", type=Path, help="where the dataset files are")
    parser.add_argument(
        "--corruptions-dir", type=Path,
        help="released corruption files: CIFAR-10-C / CIFAR-100-C's .npy folder, or ImageNet-C's "
        "JPEG folders (<corruption>/<severity>/<class>/<image>); default: generated ones",
    )  # fmt: skip
    add_cache_argument(parser)
    parser.add_argument(
        "--force", action="store_true", help="re-run the --metrics blocks even if they are done"
    )
    parser.add_argument(
        "--replace", action="store_true",
        help="the record --name names holds another model, or is too damaged to use: start it "
        "afresh (the old record and its artifacts move to <out>/.replaced/<name>-<UTC time>/)",
    )  # fmt: skip
    parser.add_argument(
        "--heatmap-scale", choices=("absolute", "relative"), default="absolute",
        help="colours of the heat-map figure: error rate 0-1 (default, comparable across "
        "models) or error minus the model's clean error",
    )  # fmt: skip
    add_protocol_arguments(parser)
    add_executor_arguments(parser)


def apply_threat_model(args: argparse.Namespace) -> None:
    """``--threat-model``: a norm ball sets the protocol's ``norm``; a corruption set adds
    its metric to ``--metrics``."""
    from freqbench.errors import UserError
    from freqbench.threat_models import get_threat_model

    if args.threat_model is None:
        return
    card = get_threat_model(args.threat_model)
    if card.bounded:
        if args.norm is not None and args.norm != card.name:
            raise UserError(
                f"--threat-model {card.name} and --norm {args.norm} name two norms: pass one"
            )
        args.norm = card.name
    elif args.metrics != "all":
        names = [name.strip() for name in args.metrics.split(",")]
        args.metrics = ",".join(names if card.metric in names else [*names, card.metric])


def run(args: argparse.Namespace) -> int:
    import time

    from freqbench.preflight import check_request

    apply_threat_model(args)

    check_request(
        args.model,
        weights=str(args.weights) if args.weights else None,
        random_init=args.random_init,
        dataset=args.dataset,
        metrics=args.metrics,
        data_dir=args.data_dir,
        out_dir=args.out,
    )  # fmt: skip  (before torch is imported: a typo is said in a second)

    from freqbench.evaluate import evaluate
    from freqbench.headline import headline_table
    from freqbench.loading import ModelRef, describe_model_ref

    model = ModelRef(
        args.model, str(args.weights) if args.weights else None, args.random_init,
        args.input_normalization,
    )  # fmt: skip
    dataset = args.dataset or describe_model_ref(model, None).dataset  # names the folder
    out = args.out or Path(SCRATCH_RECORDS_DIR) / dataset
    start = time.perf_counter()
    with executor_from_args(args) as executor:
        result = evaluate(
            model,
            executor=executor,
            dataset=dataset,
            metrics=args.metrics,
            protocol=protocol_from_args(args),
            out_dir=out,
            device=args.device,
            force=args.force,
            replace=args.replace,
            data_dir=args.data_dir,
            corruptions_dir=args.corruptions_dir,
            cache_dir=args.cache_dir,
            name=args.name,
            figures={"heatmap_scale": args.heatmap_scale},
            threads=args.threads,
        )
    if result.record["metrics"]:
        print(headline_table(result.record))
        print(f"\nrecord: {result.path}  ({time.perf_counter() - start:.0f} s)")
    print(time_summary(result))
    return exit_code(result)


def exit_code(result) -> int:
    """0 when every block ran or was reused; 2 when a block failed on the input, else 1."""
    if not result.failed:
        return 0
    return 2 if result.user_error else 1


def time_summary(result) -> str:
    """Where the time went: each block that ran (seconds, shards, executor) and why it ran
    when it was not simply missing; the reused, dropped and failed blocks."""
    lines = []
    for name in result.ran:
        e = result.record["evaluations"][name]
        shards = f" in {e['shards']} shards" if e["shards"] > 1 else ""
        why = f"  ({result.reasons[name]})" if name in result.reasons else ""
        lines.append(
            f"  {name:<12} {e['wall_seconds']:8.1f} s wall, {e['seconds']:8.1f} s task time on "
            f"{e['device']} ({e['executor']}{shards}){why}"
        )
    head = (
        "ran:"
        if lines
        else "nothing ran"
        if result.failed
        else "nothing to run: every block was done"
    )
    out = [head, *lines]
    if result.reused:
        out.append(f"reused: {', '.join(result.reused)}")
    out += [f"dropped {name}: {why}" for name, why in result.dropped.items()]
    if result.set_aside is not None:
        out.append(f"the record it replaced (--replace) and its files are in {result.set_aside}")
    out += [f"FAILED {name}: {why}" for name, why in result.failed.items()]
    if result.failed:
        n = len(result.failed)
        out.append(f"{n} block{'s' if n > 1 else ''} failed; the other blocks were kept")
    return "\n".join(out)
