"""Corruption accuracy, CIFAR-10-C and ImageNet-C style (Hendrycks and Dietterich, ICLR 2019).

With ``corruptions_dir`` the official CIFAR-10-C / CIFAR-100-C files, or ImageNet-C's release
JPEGs for ImageNet, are read; otherwise the 15 corruptions are generated at 5 severities by
:mod:`freqbench.corruptions` (ImageNet's as the release was made, see
:func:`_generated_imagenet_c`) and stored as uint8, as the references save their sets
(``np.uint8`` of the 0-255 image: truncation). A
generated cell depends only on the images, the seed and the generator, so it is made once
and kept in the array cache (:mod:`freqbench.cache`): every other model evaluated on the same
images reads it back. The score is the plain mean over the 75 cells, with means per
corruption and per family beside it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from freqbench.cache import content_key
from freqbench.corruptions.params import ALEXNET_ERRORS, CORRUPTIONS, FAMILIES, SEVERITIES
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
    import torch
    from torch import nn

    from freqbench.cache import ArrayCache
    from freqbench.data import LabeledImages
    from freqbench.data.base import ImageStream

OFFICIAL_FILES = {"cifar10": "cifar10-c", "cifar100": "cifar100-c"}
#: Datasets whose corruption sets are ImageNet-C's (released or generated): they get an mCE.
IMAGENET_C_DATASETS = ("imagenet", "imagenet-val")
#: ImageNet-C's release JPEGs are 224 x 224 already; RobustBench feeds them through Res224 only
#: (a second Resize(256) + CenterCrop(224) changed its ranking: robustbench issue 59).
RELEASE_PREPROCESSING = "Res224"
RELEASE_SIZE = 224
RELEASE_LAYOUT = (
    "ImageNet-C's release layout is <dir>/<corruption>/<severity>/<wnid>/<file>.JPEG (the "
    "tars of https://zenodo.org/records/2235448 unpacked into one folder; <dir>/ImageNet-C/... "
    "is found too)"
)
GENERATION_CHUNK = 1000  # images corrupted per call: fixes the random streams and bounds memory
#: What a cached cell was made by: a change to any corruption makes every cell anew.
GENERATOR = "freqbench-corruptions/3"
#: ImageNet-C as make_imagenet_c.py made it: Resize(256) + CenterCrop(224) of each image
#: (RobustBench's Res256Crop224), the ImageNet-C generator, np.uint8, a JPEG of quality 85.
IMAGENET_C_PREPROCESSING = "Res256Crop224"
#: 2: snow passes through the reference's two 8-bit steps (1 kept its layer in float).
IMAGENET_C_GENERATOR = "freqbench-imagenet-c/2"
IMAGENET_C_CHUNK = 100  # 224 x 224 images corrupted per call (60 MB as float32)
IMAGENET_C_QUALITY = 85


#: What some blocks hold besides the numbers: the ImageNet-C generator of generated cells,
#: the resize of release ImageNet-C files for a model of another input size.
OPTIONAL_FIELDS = ("generator", "release_resized")

Cell = tuple[str, int]  # (corruption, severity)
CELLS: tuple[Cell, ...] = tuple((name, s) for name in CORRUPTIONS for s in SEVERITIES)


def _official(
    data: LabeledImages, directory: Path, cells: list[Cell]
) -> Iterator[tuple[str, int, torch.Tensor, torch.Tensor]]:
    from freqbench.data import load_corruption

    if data.info.name not in OFFICIAL_FILES:
        raise UserError(
            f"official corruption files exist for {sorted(OFFICIAL_FILES)} only, not "
            f"{data.info.name}; leave out --corruptions-dir to generate them"
        )
    for name, severity in cells:
        part = load_corruption(
            OFFICIAL_FILES[data.info.name], name, severity, directory, len(data), data.labels
        )
        yield name, severity, part.images, part.labels


def _release_files(
    data: ImageStream, directory: Path, cells: list[Cell], batch_size: int
) -> Iterator[tuple[str, int, torch.Tensor, torch.Tensor]]:
    """ImageNet-C's JPEGs of the same images as ``data`` (the same wnid/file names), batch
    by batch: RobustBench's subset restricted as for the clean images."""
    from dataclasses import replace

    root = directory / "ImageNet-C" if (directory / "ImageNet-C").is_dir() else directory
    preprocessing = release_preprocessing(data.preprocessing)
    for name, severity in cells:
        folder = root / name / str(severity)
        if not folder.is_dir():
            raise UserError(f"no folder {folder}: {RELEASE_LAYOUT}")
        corrupted = replace(
            data, files=tuple(folder / f.parent.name / f.name for f in data.files),
            preprocessing=preprocessing, missing_hint=RELEASE_LAYOUT,
        ).first(None)  # fmt: skip
        for images, labels in corrupted.batches(batch_size):
            yield name, severity, images, labels


def release_resize(preprocessing: str | None) -> dict[str, Any] | None:
    """How ImageNet-C's 224 px release images are resized for a model whose preprocessing
    makes inputs of another size: to that size, with its own interpolation (a block records
    it; the standard protocol reads them at 224). None for a 224 px model, or a dataset held
    as tensors (CIFAR-10-C's files are the model's size)."""
    from freqbench.data.preprocessing import interpolation_of, output_size

    if preprocessing is None or output_size(preprocessing) == RELEASE_SIZE:
        return None
    side, interpolation = output_size(preprocessing), interpolation_of(preprocessing)
    return {"from": RELEASE_SIZE, "to": side, "interpolation": interpolation}


def release_preprocessing(preprocessing: str) -> str:
    """What the release JPEGs go through for a model of ``preprocessing``: Res224, as
    RobustBench reads them, for a 224 px model; else a resize of the whole image to the
    model's size with its own interpolation (never a crop: the release is cropped already)."""
    from freqbench.data.preprocessing import resized_to

    resize = release_resize(preprocessing)
    if resize is None:
        return RELEASE_PREPROCESSING
    return resized_to(resize["to"], resize["interpolation"])


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


def quantize(images: torch.Tensor) -> np.ndarray:
    """Images in [0, 1] as the reference saves them: ``np.uint8(255 x)``, truncating."""
    return (images.detach().cpu().numpy() * 255).astype(np.uint8)


def cell_key(images_sha256: str, seed: int, name: str, severity: int) -> str:
    """The cache key of one generated cell: the images, the seed, the cell and the generator."""
    return content_key({
        "kind": "corruption-cell", "generator": GENERATOR, "images": images_sha256,
        "seed": seed, "corruption": name, "severity": severity, "chunk": GENERATION_CHUNK,
    })  # fmt: skip


def images_sha256(images: torch.Tensor) -> str:
    digest = hashlib.sha256(str(tuple(images.shape)).encode())
    digest.update(images.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _generated(
    data: LabeledImages, seed: int, cells: list[Cell], cache: ArrayCache
) -> Iterator[tuple[str, int, torch.Tensor, torch.Tensor]]:
    """Each cell's chunks, drawn from the streams (seed, corruption, severity, chunk), so that
    a cell does not depend on which other cells are computed with it; read from ``cache``
    when another evaluation made it already, else made and stored there."""
    import torch

    from freqbench.corruptions import corrupted_batches

    shared = images_sha256(data.images)
    for name, severity in cells:
        key = cell_key(shared, seed, name, severity)
        stored = cache.get(key, shape=data.images.shape, dtype=np.uint8)
        if stored is None:
            parts = [
                quantize(batch.images)
                for batch in corrupted_batches(
                    data.images,
                    data.labels,
                    names=(name,),
                    severities=(severity,),
                    seed=seed,
                    chunk_size=GENERATION_CHUNK,
                )
            ]
            stored = np.concatenate(parts) if parts else quantize(data.images[:0])
            cache.put(key, stored, f"{data.info.name} {len(data)} images: {name} {severity}")
        for start in range(0, len(data), GENERATION_CHUNK):
            part = torch.from_numpy(stored[start : start + GENERATION_CHUNK]).float() / 255
            yield name, severity, part, data.labels[start : start + GENERATION_CHUNK]


def _generated_imagenet_c(
    data: ImageStream, seed: int, cells: list[Cell], cache: ArrayCache
) -> Iterator[tuple[str, int, torch.Tensor, torch.Tensor]]:
    """Each cell of ImageNet-C made from ``data``'s files as make_imagenet_c.py made the
    release (:data:`IMAGENET_C_PREPROCESSING`, the ``imagenet`` generator, np.uint8, JPEG
    quality 85 with ``optimize=True``), chunk by chunk of :data:`IMAGENET_C_CHUNK` images,
    chunk k drawing from stream (seed, corruption, severity, k). A chunk's JPEGs are one
    ``cache`` entry (the byte offsets as int64, then the files), keyed by its own files, so
    memory holds one chunk and a chunk is made once for every image set that starts with
    it; each model decodes them, as the release's 224 x 224 JPEGs are read (Res224 leaves
    them as they are)."""
    from dataclasses import replace

    source = replace(data, preprocessing=IMAGENET_C_PREPROCESSING)
    chunks = range(0, len(data), IMAGENET_C_CHUNK)
    shared = [data.content_sha256(k, k + IMAGENET_C_CHUNK) for k in chunks]
    for name, severity in cells:
        for k, start in enumerate(chunks):
            stop = min(start + IMAGENET_C_CHUNK, len(data))
            key = content_key({
                "kind": "imagenet-c-chunk", "generator": IMAGENET_C_GENERATOR,
                "images": shared[k], "seed": seed, "corruption": name, "severity": severity,
                "chunk": IMAGENET_C_CHUNK, "stream": k,
            })  # fmt: skip
            stored = cache.get(key, shape=(None,), dtype=np.uint8)
            files = None if stored is None else _jpeg_files(stored, stop - start)
            if stored is not None and files is None:
                cache.discard(key, f"its offsets do not split it into {stop - start} JPEG files")
            if files is None:
                stored = _corrupted_jpegs(source, start, stop, name, severity, seed, k)
                what = f"{data.info.name} images {start}-{stop - 1}: ImageNet-C {name} {severity}"
                cache.put(key, stored, what)
                files = _jpeg_files(stored, stop - start)
            yield name, severity, _as_batch([_decoded(f) for f in files]), data.labels[start:stop]


def _corrupted_jpegs(
    source: ImageStream, start: int, stop: int, name: str, severity: int, seed: int, stream: int
) -> np.ndarray:
    """Images ``start:stop`` corrupted and saved as JPEGs: the byte offsets (int64), then the
    files, as one uint8 array."""
    from freqbench.corruptions import corrupt

    [(images, _)] = list(source.batches(stop - start, start, stop))
    corrupted = corrupt(images, name, severity, seed, profile="imagenet", stream=stream)
    files = [_jpeg(image) for image in quantize(corrupted)]
    offsets = np.cumsum([0] + [len(f) for f in files], dtype=np.int64)
    return np.concatenate([np.frombuffer(offsets.tobytes(), np.uint8), *files])


def _jpeg_files(stored: np.ndarray, n: int) -> list[np.ndarray] | None:
    """The ``n`` files of a chunk made by :func:`_corrupted_jpegs`, or None when its offsets
    do not split it (n + 1 of them, from 0, never falling, ending where its bytes end)."""
    head = 8 * (n + 1)
    if len(stored) < head:
        return None
    offsets, body = stored[:head].view(np.int64), stored[head:]
    if offsets[0] != 0 or offsets[-1] != len(body) or np.any(np.diff(offsets) < 0):
        return None
    return [body[offsets[i] : offsets[i + 1]] for i in range(n)]


def _jpeg(image: np.ndarray) -> np.ndarray:
    """A (C, H, W) uint8 image as the release saved it: PIL JPEG, quality 85, optimized."""
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.fromarray(image.transpose(1, 2, 0)).save(
        buffer, format="JPEG", quality=IMAGENET_C_QUALITY, optimize=True
    )
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8)


def _decoded(jpeg: np.ndarray) -> np.ndarray:
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(jpeg.tobytes())) as image:
        return np.asarray(image.convert("RGB"))


def _as_batch(images: list[np.ndarray]) -> torch.Tensor:
    import torch

    return torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2)).float() / 255


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
    from freqbench.prediction import n_correct
    from freqbench.progress import Progress

    streamed = data.info.default_preprocessing is not None
    source = "files" if corruptions_dir else "generated"
    cells = [CELLS[i] for i in shard_range(len(CELLS), shard)]
    cache = ArrayCache(Path(cache_dir) if cache_dir else None)
    if streamed:
        if corruptions_dir:
            stream = _release_files(data, Path(corruptions_dir), cells, batch_size)
            chunks = len(cells) * -(-len(data) // batch_size)
        else:
            stream = _generated_imagenet_c(data, seed, cells, cache)
            chunks = len(cells) * -(-len(data) // IMAGENET_C_CHUNK)
    elif corruptions_dir:
        stream, chunks = _official(data, Path(corruptions_dir), cells), len(cells)
    else:
        stream = _generated(data, seed, cells, cache)
        chunks = len(cells) * -(-len(data) // GENERATION_CHUNK)
    correct = {f"{name}:{s}": [0, 0] for name, s in cells}  # cell -> [correct, counted]
    with Progress(chunks, "corruptions", "chunks", enabled=progress) as bar:
        for name, severity, images, labels in stream:
            count = correct[f"{name}:{severity}"]
            count[0] += n_correct(model, images, labels, batch_size, device)
            count[1] += len(labels)
            bar.update()
            bar.note(f"{name} {severity}")
    values = {
        "counts": correct,
        "source": source,
        "frost_source": FROST_SOURCE if source == "generated" else "files",
        "seed": seed if source == "generated" else None,
        "n": len(data),
        "mce_baseline": "alexnet" if data.info.name in IMAGENET_C_DATASETS else None,
    }
    if streamed and source == "generated":
        values["generator"] = IMAGENET_C_GENERATOR
    elif streamed and release_resize(data.preprocessing) is not None:
        values["release_resized"] = release_resize(data.preprocessing)
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
                ranks=("corruptions",),
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
