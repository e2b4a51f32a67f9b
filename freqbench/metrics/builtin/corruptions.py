"""Corruption accuracy, CIFAR-10-C and ImageNet-C style (Hendrycks and Dietterich, ICLR 2019).

The metric only predicts and counts: the corrupted images come from the data layer
(:func:`freqbench.data.corrupted.corrupted_source`), the official files of ``corruptions_dir``
or the set generated from the test images. The score is the plain mean over the 75 cells,
with means per corruption and per family beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench.corruptions.params import ALEXNET_ERRORS, CORRUPTIONS, FAMILIES, SEVERITIES
from freqbench.data.corrupted import corrupted_source, corruption_cells
from freqbench.data.release_folders import RELEASE_SIZE, release_resize
from freqbench.errors import UserError
from freqbench.metrics.counts import keyed_problems, mean_problems
from freqbench.metrics.presentation import Column, Presentation
from freqbench.metrics.spec import (
    COUNT,
    FRACTION,
    FieldContext,
    Flag,
    MetricResult,
    MetricSpec,
    ProtocolField,
    Shard,
    percent,
    shard_range,
)

if TYPE_CHECKING:
    from torch import nn

    from freqbench.data import LabeledImages
    from freqbench.data.base import ImageStream

#: What some blocks hold besides the numbers: the ImageNet-C generator of generated cells,
#: the resize of release ImageNet-C files for a model of another input size.
OPTIONAL_FIELDS = ("generator", "release_resized")

CELLS = corruption_cells("common")


def _release_resized(protocol: Mapping[str, Any]) -> str | None:
    """The protocol deviation of release files read for a model of another size."""
    resize = (
        release_resize(protocol.get("preprocessing"))
        if protocol.get("corruptions_source") == "files"
        else None
    )
    if resize is None:
        return None
    return (
        f"corruptions_source files resized from {resize['from']} to {resize['to']} px "
        f"({resize['interpolation']}): the standard reads ImageNet-C's release at "
        f"{RELEASE_SIZE} px, the size it was made at"
    )


def corruption_accuracy(
    model: nn.Module,
    data: LabeledImages | ImageStream,
    *,
    corruptions_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    seed: int = 0,
    batch_size: int = 500,
    device: str = "cpu",
    progress: bool = True,
    shard: Shard | None = None,
) -> MetricResult:
    """Accuracy on every (corruption, severity) cell; with ``shard=(i, n)`` on the i-th of n
    groups of cells (:func:`merge` joins them, exactly). Generated cells are kept in the
    array cache at ``cache_dir`` (default :func:`freqbench.cache.default_root`)."""
    from freqbench.cache import ArrayCache
    from freqbench.corruptions import FROST_SOURCE
    from freqbench.prediction import cell_counts
    from freqbench.progress import Progress

    cells = [CELLS[i] for i in shard_range(len(CELLS), shard)]
    cache = ArrayCache(Path(cache_dir) if cache_dir else None)
    source = corrupted_source(
        data, directory=corruptions_dir, seed=seed, cells=cells, cache=cache, batch_size=batch_size
    )
    with Progress(source.chunks, "corruptions", "chunks", enabled=progress) as bar:

        def advance(name: str, severity: int) -> None:
            bar.update()
            bar.note(f"{name} {severity}")

        correct = cell_counts(model, source.batches, cells, batch_size, device, advance)
    generated = source.kind == "generated"
    values = {
        "counts": correct,
        "source": source.kind,
        "frost_source": FROST_SOURCE if generated else "files",
        "seed": seed if generated else None,
        "n": len(data),
        "mce_baseline": source.mce_baseline,
        **source.record,
    }
    part = MetricResult(values)
    return part if shard is not None else merge([part])


def merge(parts: list[MetricResult]) -> MetricResult:
    """The block from groups of cells: accuracy per cell, corruption and family, and the mean."""
    counts = {cell: count for part in parts for cell, count in part.values["counts"].items()}
    first = parts[0].values
    short = [cell for cell, (_, counted) in counts.items() if counted != first["n"]]
    if short:
        cell, counted = short[0], counts[short[0]][1]
        raise UserError(
            f"corruption cell {cell} holds {counted} images, not the n = {first['n']} evaluated"
        )
    correct = {name: [counts[f"{name}:{s}"][0] for s in SEVERITIES] for name in CORRUPTIONS}
    table = {name: [c / first["n"] for c in row] for name, row in correct.items()}
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
        "correct": correct,
        **{key: first[key] for key in ("source", "frost_source", "seed", "n")},
        **{key: first[key] for key in OPTIONAL_FIELDS if key in first},
    }
    if first.get("mce_baseline") == "alexnet":
        values["mce"] = mean_corruption_error(per_corruption)
    return MetricResult(values)


def _check(block: Mapping[str, Any]) -> list[str]:
    """Each cell is its count over ``n``; each corruption, family and the score are the plain
    means of their cells."""
    cells, n, correct = block.get("cells"), block.get("n"), block.get("correct")
    if not isinstance(cells, Mapping):
        return []
    if correct is not None and not (isinstance(correct, Mapping) and set(correct) == set(cells)):
        return ["correct: its corruptions are not those of cells"]
    found = [
        problem
        for name, row in cells.items()
        for problem in keyed_problems(
            f"cells.{name}", row, n, None if correct is None else correct[name]
        )
    ]
    per_corruption, per_family = block.get("per_corruption", {}), block.get("per_family", {})
    for name, row in cells.items():
        found += mean_problems(f"per_corruption.{name}", per_corruption.get(name), row)
    for family, names in FAMILIES.items():
        parts = [per_corruption.get(name) for name in names]
        found += mean_problems(f"per_family.{family}", per_family.get(family), parts)
    found += mean_problems("mean", block.get("mean"), [a for row in cells.values() for a in row])
    return found


def mean_corruption_error(per_corruption: dict[str, float]) -> float:
    """ImageNet-C's mCE (Hendrycks & Dietterich): each corruption's error, averaged over the
    severities, over AlexNet's; the mean of those ratios (1.0: as robust as AlexNet)."""
    ratios = [(1 - per_corruption[name]) / ALEXNET_ERRORS[name] for name in CORRUPTIONS]
    return sum(ratios) / len(ratios)


def _headline(block: dict[str, Any]) -> list[tuple[str, str]]:
    families = ", ".join(f"{k} {percent(v)}" for k, v in block["per_family"].items())
    resize = block.get("release_resized")
    how = (
        f", resized {resize['from']} -> {resize['to']} px {resize['interpolation']}"
        if resize
        else ""
    )
    lines = [(f"corruptions ({block['source']}{how})", f"{percent(block['mean'])}  (n={block['n']})  [{families}]")]  # fmt: skip
    if "mce" in block:
        lines.append(("mCE (AlexNet = 100%)", percent(block["mce"])))
    return lines


def _source(context: FieldContext) -> str:
    return "files" if context.options.get("corruptions_dir") else "generated"


QUICK_N = 1000  # 75 corrupted copies of each image: 75,000 predictions


def _family_column(family: str) -> Column:
    return Column(
        family,
        family.capitalize(),
        f"mean accuracy over the {family} corruptions",
        ("per_family", family),
        percent=True,
        higher_is_better=True,
        bass_delta=True,
    )


SPEC = MetricSpec(
    name="corruptions",
    description="accuracy under 15 corruptions x 5 severities (CIFAR-10-C / ImageNet-C style)",
    # 2: frost blends Hendrycks' photographs (version 1 blended a procedural ice texture).
    # 3: generated cells are uint8, as the reference saves them (and are cached).
    version="3",
    compute=corruption_accuracy,
    reads=("corruptions_n_examples", "seed", "corruptions_source"),
    fields=(
        ProtocolField(
            "corruptions_n_examples",
            int,
            "first N test images corrupted (75 copies each)",
            default=lambda c: c.resolved["n_examples"],
            quick=lambda c: min(QUICK_N, c.resolved["n_examples"]),
            default_help=f"--n-examples; quick: {QUICK_N}",
            standard="at_least",
            minimum=1,
            count=True,
        ),
        ProtocolField(
            "corruptions_source",
            str,
            "generated, or the official files of --corruptions-dir",
            default=_source,
            standard="any",
            choices=("generated", "files"),
            cli=False,
            deviation=_release_resized,
        ),
    ),
    images="corruptions_n_examples",
    presentation=Presentation(
        columns=(
            Column(
                "corruptions",
                "Corruptions",
                "mean accuracy over the 15 corruptions x 5 severities",
                ("mean",),
                percent=True,
                higher_is_better=True,
                main=True,
                bass_delta=True,
                headline=True,
                rank_noun="mean corruption accuracy",
                model_info="corruptions_acc",
                # The images corrupted, not 75 times as many: every cell reuses the same images.
                count=("n",),
                legend=(
                    "Corruptions: its interval counts the n test images corrupted, not 75 n: the "
                    "15 x 5 corruption cells reuse the same images, so they are not independent "
                    "draws (a mean over cells varies no more than one binomial draw on n images: "
                    "the interval is conservative)."
                ),
            ),
            *(_family_column(family) for family in FAMILIES),
            Column(
                "mce",
                "mCE",
                "ImageNet-C's mean Corruption Error: each corruption's error over AlexNet's "
                "(100%: as robust as AlexNet; lower is better)",
                ("mce",),
                percent=True,
                higher_is_better=False,
                main=True,
                optional=True,
            ),
        ),
        headline=_headline,
    ),
    schema={
        "type": "object",
        "required": ["mean", "per_corruption", "per_family", "cells", "source", "n"],
        "anyOf": [{"required": ["frost_source"]}, {"required": ["frost_procedural"]}],
        "properties": {
            "mean": FRACTION,
            "per_corruption": {
                "type": "object",
                "required": list(CORRUPTIONS),
                "additionalProperties": FRACTION,
            },
            "per_family": {
                "type": "object",
                "required": list(FAMILIES),
                "additionalProperties": FRACTION,
            },
            "cells": {
                "type": "object",
                "additionalProperties": {
                    "type": "array",
                    "items": FRACTION,
                    "minItems": 5,
                    "maxItems": 5,
                },
            },
            # correct images per cell (absent from blocks made before)
            "correct": {
                "type": "object",
                "additionalProperties": {
                    "type": "array",
                    "items": COUNT,
                    "minItems": 5,
                    "maxItems": 5,
                },
            },
            "source": {"enum": ["generated", "files"]},
            "frost_source": {"enum": ["hendrycks-photographs", "files"]},
            "frost_procedural": {
                "type": "boolean",
                "description": "version 1 blocks: frost blended a procedural ice texture",
            },
            "n": COUNT,
            "mce": {"type": "number", "minimum": 0},  # ImageNet-C only
            "generator": {
                "type": "string",
                "description": "generated ImageNet-C: the generator version that made the cells",
            },
            "release_resized": {
                "type": "object",
                "description": "release ImageNet-C resized for a model of another input size",
                "required": ["from", "to", "interpolation"],
                "properties": {
                    "from": COUNT,
                    "to": COUNT,
                    "interpolation": {"type": "string"},
                },
            },
        },
    },
    flags=(
        Flag(
            "procedural frost",
            "frost blended a procedural ice texture (corruptions metric version 1), about 40% "
            "weaker than CIFAR-10-C's frost photographs; evaluate the model again.",
            lambda block: bool(block.get("frost_procedural")),
        ),
        Flag(
            "float snow",
            "generated ImageNet-C whose snow kept its layer in float (ImageNet-C generator 1, "
            "before the block named its generator): 0.2-0.4 levels brighter than the release's, "
            "which passes it through 8 bits around ImageMagick's blur; evaluate the model "
            "again with --force --metrics corruptions.",
            lambda block: (
                block.get("mce") is not None
                and block.get("source") == "generated"
                and "generator" not in block
            ),
        ),
    ),
    check=_check,
    merge=merge,
    units=lambda protocol, info: len(CELLS),
    order=30,
)
