"""ImageNet-3DCC accuracy (Kar et al., CVPR 2022): RobustBench's ``corruptions_3d`` threat model.

The 12 corruptions x 5 severities of the release files in robustbench's layout
(``<corruptions-dir>/ImageNet-3DCC/<corruption>/<severity>/<wnid>/<image>``), read by the
data layer (:func:`freqbench.data.corrupted.corrupted_source`, set "3dcc"); this metric only
predicts and counts. The score is the plain mean over the 60 cells, as RobustBench's
``corruptions_acc_3d``. ImageNet-3DCC cannot be generated, so ``--metrics all`` leaves the
metric out: name it (or ``--threat-model corruptions_3d``) with ``--corruptions-dir``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench.corruptions.params import SEVERITIES
from freqbench.data.corrupted import corrupted_source, corruption_cells
from freqbench.metrics.counts import keyed_problems, mean_problems
from freqbench.metrics.presentation import Column, Presentation
from freqbench.metrics.spec import (
    COUNT,
    FRACTION,
    MetricResult,
    MetricSpec,
    Shard,
    percent,
    shard_range,
)

if TYPE_CHECKING:
    from torch import nn

    from freqbench.data.base import ImageStream

CELLS = corruption_cells("3dcc")
CORRUPTIONS = tuple(dict.fromkeys(name for name, _ in CELLS))


def corruption_3d_accuracy(
    model: nn.Module,
    data: ImageStream,
    *,
    corruptions_dir: str | Path | None = None,
    batch_size: int = 500,
    device: str = "cpu",
    progress: bool = True,
    shard: Shard | None = None,
) -> MetricResult:
    """Accuracy on every ImageNet-3DCC cell of the release under ``corruptions_dir``; with
    ``shard=(i, n)`` on the i-th of n groups of cells (:func:`merge` joins them)."""
    from freqbench.prediction import cell_counts
    from freqbench.progress import Progress

    cells = [CELLS[i] for i in shard_range(len(CELLS), shard)]
    source = corrupted_source(
        data, corruption_set="3dcc", directory=corruptions_dir, cells=cells, batch_size=batch_size
    )
    with Progress(source.chunks, "ImageNet-3DCC", "chunks", enabled=progress) as bar:
        counts = cell_counts(
            model, source.batches, cells, batch_size, device, lambda *_: bar.update()
        )
    part = MetricResult({"counts": counts, "n": len(data), **source.record})
    return part if shard is not None else merge([part])


def merge(parts: list[MetricResult]) -> MetricResult:
    """The block from groups of cells: accuracy per cell and corruption, and the mean."""
    from freqbench.errors import UserError

    counts = {cell: count for part in parts for cell, count in part.values["counts"].items()}
    n = parts[0].values["n"]
    short = [cell for cell, (_, counted) in counts.items() if counted != n]
    if short:
        raise UserError(
            f"ImageNet-3DCC cell {short[0]} holds {counts[short[0]][1]} images, not the n = {n} "
            "evaluated"
        )
    correct = {name: [counts[f"{name}:{s}"][0] for s in SEVERITIES] for name in CORRUPTIONS}
    cells = {name: [c / n for c in row] for name, row in correct.items()}
    values = {
        "mean": sum(sum(row) for row in cells.values()) / len(CELLS),
        "per_corruption": {name: sum(row) / len(row) for name, row in cells.items()},
        "cells": cells,
        "correct": correct,
        "source": "files",
        "n": n,
        **{k: v for k, v in parts[0].values.items() if k == "release_resized"},
    }
    return MetricResult(values)


def _check(block: Mapping[str, Any]) -> list[str]:
    """Each cell is its count over ``n``; each corruption and the score are their cells' means."""
    cells, n, correct = block.get("cells"), block.get("n"), block.get("correct", {})
    if not isinstance(cells, Mapping) or not isinstance(correct, Mapping):
        return []
    found = [
        problem
        for name, row in cells.items()
        for problem in keyed_problems(f"cells.{name}", row, n, correct.get(name))
    ]
    for name, row in cells.items():
        found += mean_problems(f"per_corruption.{name}", block.get("per_corruption", {}).get(name), row)  # fmt: skip
    found += mean_problems("mean", block.get("mean"), [a for row in cells.values() for a in row])
    return found


def _headline(block: dict[str, Any]) -> list[tuple[str, str]]:
    return [("ImageNet-3DCC (files)", f"{percent(block['mean'])}  (n={block['n']})")]


_ROW = {"type": "array", "minItems": len(SEVERITIES), "maxItems": len(SEVERITIES)}

SPEC = MetricSpec(
    name="corruptions_3d",
    description="accuracy under ImageNet-3DCC's 12 corruptions x 5 severities (release files)",
    version="1",
    compute=corruption_3d_accuracy,
    reads=("n_examples",),
    presentation=Presentation(
        columns=(
            Column(
                "corruptions_3d",
                "3DCC",
                "mean accuracy over ImageNet-3DCC's 12 corruptions x 5 severities",
                ("mean",),
                percent=True,
                higher_is_better=True,
                main=True,
                headline=True,
                optional=True,
                rank_noun="mean ImageNet-3DCC accuracy",
                model_info="corruptions_acc_3d",
                count=("n",),
            ),
        ),
        headline=_headline,
    ),
    schema={
        "type": "object",
        "required": ["mean", "per_corruption", "cells", "correct", "source", "n"],
        "properties": {
            "mean": FRACTION,
            "per_corruption": {
                "type": "object",
                "required": list(CORRUPTIONS),
                "additionalProperties": FRACTION,
            },
            "cells": {"type": "object", "additionalProperties": {**_ROW, "items": FRACTION}},
            "correct": {"type": "object", "additionalProperties": {**_ROW, "items": COUNT}},
            "source": {"const": "files"},
            "n": COUNT,
            "release_resized": {"type": "object"},
        },
    },
    check=_check,
    merge=merge,
    units=lambda values, info: len(CELLS),
    by_default=False,
    order=31,
)
