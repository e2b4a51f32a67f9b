"""Corruption accuracy, CIFAR-10-C style (Hendrycks and Dietterich, ICLR 2019).

With ``corruptions_dir`` the official CIFAR-10-C / CIFAR-100-C files are read; otherwise the
15 corruptions are generated at 5 severities by :mod:`freqbench.corruptions`. The score is the
plain mean over the 75 cells, with means per corruption and per family beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from freqbench.corruptions import (
    CORRUPTIONS,
    FAMILIES,
    FROST_IS_PROCEDURAL,
    SEVERITIES,
    corrupted_batches,
)
from freqbench.data import LabeledImages, load_corruption
from freqbench.errors import UserError
from freqbench.metrics.base import MetricResult, register_metric

OFFICIAL_FILES = {"cifar10": "cifar10-c", "cifar100": "cifar100-c"}
GENERATION_CHUNK = 1000  # images corrupted per call: fixes the random streams and bounds memory


def _official(
    data: LabeledImages, directory: Path
) -> Iterator[tuple[str, int, torch.Tensor, torch.Tensor]]:
    if data.info.name not in OFFICIAL_FILES:
        raise UserError(
            f"official corruption files exist for {sorted(OFFICIAL_FILES)} only, not "
            f"{data.info.name}; leave out --corruptions-dir to generate them"
        )
    for name in CORRUPTIONS:
        for severity in SEVERITIES:
            part = load_corruption(
                OFFICIAL_FILES[data.info.name], name, severity, directory, len(data)
            )
            yield name, severity, part.images, part.labels


def _generated(
    data: LabeledImages, seed: int
) -> Iterator[tuple[str, int, torch.Tensor, torch.Tensor]]:
    for batch in corrupted_batches(
        data.images, data.labels, seed=seed, chunk_size=GENERATION_CHUNK
    ):
        yield batch.name, batch.severity, batch.images, batch.labels


@torch.inference_mode()
def _n_correct(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int, device
) -> int:
    return sum(
        int(
            (
                model(images[s : s + batch_size].to(device)).argmax(1).cpu()
                == labels[s : s + batch_size]
            ).sum()
        )
        for s in range(0, len(labels), batch_size)
    )


@register_metric("corruptions", "accuracy under 15 corruptions x 5 severities (CIFAR-10-C style)")
def corruption_accuracy(
    model: nn.Module,
    data: LabeledImages,
    *,
    corruptions_dir: str | Path | None = None,
    seed: int = 0,
    batch_size: int = 500,
    device: str = "cpu",
    progress: bool = True,
) -> MetricResult:
    source = "files" if corruptions_dir else "generated"
    cells = _official(data, Path(corruptions_dir)) if corruptions_dir else _generated(data, seed)
    correct: dict[tuple[str, int], int] = {}
    counted: dict[tuple[str, int], int] = {}
    total_chunks = (
        len(CORRUPTIONS)
        * len(SEVERITIES)
        * (1 if corruptions_dir else -(-len(data) // GENERATION_CHUNK))
    )
    for name, severity, images, labels in tqdm(
        cells, total=total_chunks, desc="corruptions", disable=not progress, leave=False
    ):
        key = (name, severity)
        correct[key] = correct.get(key, 0) + _n_correct(model, images, labels, batch_size, device)
        counted[key] = counted.get(key, 0) + len(labels)
    table = {
        name: [correct[(name, s)] / counted[(name, s)] for s in SEVERITIES] for name in CORRUPTIONS
    }
    per_corruption = {name: sum(row) / len(row) for name, row in table.items()}
    per_family = {
        family: sum(per_corruption[n] for n in names) / len(names)
        for family, names in FAMILIES.items()
    }
    values = {
        "mean": sum(sum(row) for row in table.values()) / (len(CORRUPTIONS) * len(SEVERITIES)),
        "per_corruption": per_corruption,
        "per_family": per_family,
        "cells": table,
        "source": source,
        "frost_procedural": source == "generated" and FROST_IS_PROCEDURAL,
        "seed": seed if source == "generated" else None,
        "n": len(data),
    }
    return MetricResult(values)
