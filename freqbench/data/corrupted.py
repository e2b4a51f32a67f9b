"""Corrupted copies of a test set, wherever they come from: the one place that picks a source.

A metric asks for a corruption set of its test data and counts; which images it gets is
decided here: a release's files when a corruptions folder is given (CIFAR-10-C / CIFAR-100-C
.npy files, ImageNet-C or ImageNet-3DCC image folders), else the set generated from the
test images themselves (CIFAR-10-C style in memory, ImageNet-C style from streamed files).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench.corruptions.params import SEVERITIES
from freqbench.data.release_folders import IMAGENET_3DCC, IMAGENET_C, ReleaseLayout
from freqbench.errors import UnknownNameError, UserError

if TYPE_CHECKING:
    from freqbench.cache import ArrayCache
    from freqbench.data.base import ImageStream, LabeledImages
    from freqbench.data.generated_corruptions import Cell, CellBatches

#: The corruption sets a source can give: ImageNet-C's 15 (CIFAR-10-C's too), ImageNet-3DCC's 12.
CORRUPTION_SETS: Mapping[str, ReleaseLayout] = {"common": IMAGENET_C, "3dcc": IMAGENET_3DCC}
#: The image-folder releases a card's ``corruptions.files`` may name; any other name is a
#: CIFAR-C style .npy release (:mod:`freqbench.data.cifar_c`).
RELEASE_FOLDERS: Mapping[str, ReleaseLayout] = {
    "imagenet-c": IMAGENET_C,
    "imagenet-3dcc": IMAGENET_3DCC,
}


@dataclass
class CorruptedSource:
    """A corruption set's images, cell by cell: ``batches`` yields (corruption, severity,
    images, labels), ``chunks`` of them; ``kind`` is "files" or "generated"; ``record`` is
    what a block states about the source (the generator, a resize of release images);
    ``mce_baseline`` names the reference an mCE is computed against (None: no mCE)."""

    kind: str
    batches: CellBatches
    chunks: int
    record: dict[str, Any] = field(default_factory=dict)
    mce_baseline: str | None = None


def corruption_cells(corruption_set: str = "common") -> tuple[Cell, ...]:
    """Every (corruption, severity) cell of a set, corruption by corruption."""
    layout = _layout(corruption_set)
    return tuple((name, s) for name in layout.corruptions for s in SEVERITIES)


def corrupted_source(
    data: LabeledImages | ImageStream,
    *,
    corruption_set: str = "common",
    directory: str | Path | None = None,
    seed: int = 0,
    cells: list[Cell] | None = None,
    cache: ArrayCache | None = None,
    batch_size: int = 500,
) -> CorruptedSource:
    """The corrupted images of ``data`` for ``cells`` (default: the whole set): read from the
    release under ``directory`` when given, else generated with ``seed`` (cached in
    ``cache``, the default array cache when None)."""
    from freqbench.cache import ArrayCache

    layout = _layout(corruption_set)
    cells = list(corruption_cells(corruption_set) if cells is None else cells)
    sources = data.info.corruptions
    if directory:  # an empty folder name is no folder, as the CLI reads it
        release = sources.files.get(corruption_set)
        if release is None:
            having = _datasets_with_files(corruption_set)
            raise UserError(
                f"official corruption files exist for {having} only, not {data.info.name}"
                + ("; leave out --corruptions-dir to generate them" if sources.generated else "")
            )
        if release in RELEASE_FOLDERS:
            baseline = sources.mce_baseline if layout is IMAGENET_C else None
            layout = RELEASE_FOLDERS[release]
            return _release(layout, data, Path(directory), cells, batch_size, baseline)
        return _official(release, data, Path(directory), cells)
    if layout is not IMAGENET_C or sources.generated is None:
        raise UserError(
            f"{layout.folder} cannot be generated for {data.info.name}: pass the folder of its "
            f"release files with --corruptions-dir ({layout.description})"
        )
    cache = cache or ArrayCache(None)
    streamed = data.info.default_preprocessing is not None
    if sources.generated == "imagenet-c" and streamed:
        from freqbench.data.generated_imagenet_c import (
            IMAGENET_C_GENERATOR,
            chunk_count,
            generated_imagenet_c,
        )

        batches = generated_imagenet_c(data, seed, cells, cache)
        record = {"generator": IMAGENET_C_GENERATOR}
        chunks = len(cells) * chunk_count(len(data))
        return CorruptedSource("generated", batches, chunks, record, sources.mce_baseline)
    if sources.generated == "cifar" and not streamed:
        from freqbench.data.generated_corruptions import GENERATION_CHUNK, generated_cells

        chunks = len(cells) * -(-len(data) // GENERATION_CHUNK)
        batches = generated_cells(data, seed, cells, cache)
        return CorruptedSource("generated", batches, chunks, mce_baseline=sources.mce_baseline)
    held = "streamed from image files" if streamed else "held in memory"
    raise UserError(
        f"{data.info.name}'s card generates its corruptions with '{sources.generated}', but "
        f"{data.info.name} is {held}: set its card's corruptions.generated to "
        f"'{'imagenet-c' if streamed else 'cifar'}' (or None: release files only)"
    )


def _datasets_with_files(corruption_set: str) -> list[str]:
    """The registered base datasets whose cards name release files of ``corruption_set``."""
    from freqbench.data.base import get_dataset_info, list_datasets

    cards = [get_dataset_info(name) for name in list_datasets()]
    return [c.name for c in cards if c.variant_of is None and corruption_set in c.corruptions.files]


def _layout(corruption_set: str) -> ReleaseLayout:
    if corruption_set not in CORRUPTION_SETS:
        raise UnknownNameError("corruption set", corruption_set, CORRUPTION_SETS)
    return CORRUPTION_SETS[corruption_set]


def _release(
    layout: ReleaseLayout,
    data: ImageStream,
    directory: Path,
    cells: list[Cell],
    batch_size: int,
    baseline: str | None,
) -> CorruptedSource:
    from freqbench.data.release_folders import release_cells, release_resize

    resize = release_resize(data.preprocessing)
    record = {} if resize is None else {"release_resized": resize}
    batches = release_cells(layout, data, directory, cells, batch_size)
    chunks = len(cells) * -(-len(data) // batch_size)
    return CorruptedSource("files", batches, chunks, record, baseline)


def _official(
    release: str, data: LabeledImages, directory: Path, cells: list[Cell]
) -> CorruptedSource:
    """A CIFAR-C style release's .npy files (``release``: their dataset, e.g. cifar10-c),
    one cell at a time."""

    def batches() -> CellBatches:
        from freqbench.data.cifar_c import load_corruption

        for name, severity in cells:
            part = load_corruption(release, name, severity, directory, len(data), data.labels)
            yield name, severity, part.images, part.labels

    return CorruptedSource("files", batches(), len(cells))
