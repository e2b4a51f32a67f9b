"""Describe a checkpoint: architecture, dataset, recipe, BaSS mode, parameters and provenance."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a .safetensors (or .pt) file with its .json sidecar")
    parser.add_argument("--json", action="store_true", help="print the whole sidecar as JSON")


def run(args: argparse.Namespace) -> int:
    from freqbench.checkpoints import load_checkpoint

    model, info = load_checkpoint(args.checkpoint)
    if args.json:
        print(json.dumps(info.__dict__, indent=2))
        return 0
    n_params = sum(p.numel() for p in model.parameters())
    rows = {
        "architecture": info.architecture,
        "dataset": info.dataset,
        "classes": info.num_classes,
        "input": f"{info.in_channels}x{info.image_size}x{info.image_size}",
        "parameters": f"{n_params:,}",
        "recipe": info.recipe or "-",
        "bass_mode": info.bass_mode or "-",
        "sha256": info.sha256 or "-",
        "freqbench": info.provenance.get("freqbench", "-"),
        "git_sha": info.provenance.get("git_sha") or "-",
    }
    width = max(map(len, rows))
    for key, value in rows.items():
        print(f"{key:<{width}}  {value}")
    return 0
