"""Corruption releases stored as one image folder per (corruption, severity): ImageNet-C
(Hendrycks and Dietterich, ICLR 2019) and ImageNet-3DCC (Kar et al., CVPR 2022), in the
layout RobustBench reads (``robustbench.data.load_imagenetc`` / ``load_imagenet3dcc``):
``<dir>/<release>/<corruption>/<severity>/<wnid>/<file>``, the same ``<wnid>/<file>`` names as
the clean test images, read at 224 px through Res224 alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench.corruptions.params import CORRUPTIONS
from freqbench.errors import UserError

if TYPE_CHECKING:
    from freqbench.data.base import ImageStream
    from freqbench.data.generated_corruptions import Cell, CellBatches

#: The release JPEGs are 224 x 224 already; RobustBench feeds them through Res224 only (a
#: second Resize(256) + CenterCrop(224) changed its ranking: robustbench issue 59).
RELEASE_PREPROCESSING = "Res224"
RELEASE_SIZE = 224


@dataclass(frozen=True)
class ReleaseLayout:
    """One release's folder: its name under the corruptions folder, its corruptions and
    where it comes from (said when a file is missing)."""

    folder: str
    corruptions: tuple[str, ...]
    origin: str

    @property
    def description(self) -> str:
        return (
            f"{self.folder}'s release layout is <dir>/<corruption>/<severity>/<wnid>/<file>.JPEG "
            f"(the {self.origin}; <dir>/{self.folder}/... is found too)"
        )

    def root(self, directory: Path) -> Path:
        """``directory/<release>`` when there, else ``directory`` itself."""
        inner = directory / self.folder
        return inner if inner.is_dir() else directory


#: CIFAR-10-C's 15 corruptions, as ImageNet-C names its folders.
IMAGENET_C = ReleaseLayout(
    "ImageNet-C", CORRUPTIONS, "tars of https://zenodo.org/records/2235448 unpacked into one folder"
)
#: RobustBench's ``CORRUPTIONS_3DCC``, in its order.
IMAGENET_3DCC = ReleaseLayout(
    "ImageNet-3DCC",
    (
        "near_focus", "far_focus", "bit_error", "color_quant", "flash", "fog_3d", "h265_abr",
        "h265_crf", "iso_noise", "low_light", "xy_motion_blur", "z_motion_blur",
    ),
    "release of https://3dcommoncorruptions.epfl.ch (ImageNet-3DCC) unpacked into one "
    "folder, as robustbench expects it",
)  # fmt: skip


def release_cells(
    layout: ReleaseLayout,
    data: ImageStream,
    directory: Path,
    cells: list[Cell],
    batch_size: int,
) -> CellBatches:
    """The release's images of the same files as ``data`` (the same wnid/file names), cell by
    cell and batch by batch: RobustBench's subset restricted as for the clean images."""
    root = layout.root(directory)
    preprocessing = release_preprocessing(data.preprocessing)
    for name, severity in cells:
        folder = root / name / str(severity)
        if not folder.is_dir():
            raise UserError(f"no folder {folder}: {layout.description}")
        corrupted = replace(
            data, files=tuple(folder / f.parent.name / f.name for f in data.files),
            preprocessing=preprocessing, missing_hint=layout.description,
        ).first(None)  # fmt: skip
        for images, labels in corrupted.batches(batch_size):
            yield name, severity, images, labels


def release_resize(preprocessing: str | None) -> dict[str, Any] | None:
    """How the 224 px release images are resized for a model whose preprocessing makes
    inputs of another size: to that size, with its own interpolation (a block records it;
    the standard protocol reads them at 224). None for a 224 px model, or a dataset held as
    tensors (CIFAR-10-C's files are the model's size)."""
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
