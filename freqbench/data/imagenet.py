"""ImageNet (ILSVRC2012) validation images in the ImageFolder layout RobustBench reads.

The standard test set is RobustBench's: the 5,000 validation images listed in
``robustbench/helper_files/imagenet_test_image_ids.txt`` (shipped in the robustbench wheel),
in that file's order, so that "the first n" means the same images as in RobustBench. Class
indices come from RobustBench's ``imagenet_class_to_id_map.json`` (the sorted 1,000 wnids),
whichever wnid folders are present: a model's class k is wnid k of that map. RobustBench's
own loader numbers the folders it finds instead (an ImageFolder), which agrees only on a
complete validation folder; on a partial one (a few classes) its labels are not the model's
classes, freqbench's are. ``imagenet-val`` is every image of the validation folder (50,000
when complete), sorted by wnid and file name, labelled the same way.
The images are streamed (:mod:`freqbench.data.stream`): only labels and paths stay in memory.
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import lru_cache
from pathlib import Path

from freqbench.data.base import CorruptionSources, DatasetInfo, ImageStream, register_dataset
from freqbench.data.preprocessing import DEFAULT
from freqbench.errors import UserError

_MEAN, _STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_WNID = re.compile(r"^n\d{8}$")
#: Image files an ImageFolder reads (torchvision's list).
EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
LAYOUT = (
    "expected the ILSVRC2012 validation images in the ImageFolder layout RobustBench uses, "
    "<data-dir>/val/<wnid>/ILSVRC2012_val_<id>.JPEG (e.g. val/n01440764/"
    "ILSVRC2012_val_00000293.JPEG). ImageNet cannot be downloaded automatically: get "
    "ILSVRC2012_img_val.tar from https://image-net.org (after accepting its terms), unpack "
    "it and sort the images into one folder per wnid (e.g. with the valprep.sh script of "
    "soumith/imagenetloader.torch), then pass the folder that holds val/ with --data-dir"
)

# Linf 4/255: RobustBench's ImageNet threat model. L2 3.0: RobustBench has no ImageNet L2 board;
# 3.0 is the L2 radius of the robust ImageNet ResNet-50s of Engstrom et al.'s robustness library.
_EPS = {"Linf": 4 / 255, "L2": 3.0, "L1": 255.0}  # L1: docs/threat-models.md
#: ImageNet-C generated as the release was, or read from the ImageNet-C and ImageNet-3DCC
#: release folders; the common set's mCE is against AlexNet's errors, as ImageNet-C defines it.
_CORRUPTIONS = CorruptionSources(
    "imagenet-c", {"common": "imagenet-c", "3dcc": "imagenet-3dcc"}, "alexnet"
)
IMAGENET = DatasetInfo(
    "imagenet", 1000, 3, (224, 224), _MEAN, _STD, _EPS, (),
    "ILSVRC2012 validation, RobustBench's 5000-image subset, streamed from JPEG files", 5000,
    DEFAULT, splits=("test",),
    standard_counts={"autoattack_n_examples": 5000},  # RobustBench's 5000 images
    corruptions=_CORRUPTIONS,
)  # fmt: skip
IMAGENET_VAL = DatasetInfo(
    "imagenet-val", 1000, 3, (224, 224), _MEAN, _STD, _EPS, (),
    "ILSVRC2012 validation, every image of the folder (50000), streamed from JPEG files; "
    "labels from RobustBench's class map, also for a partial folder", None,
    DEFAULT, splits=("test",), corruptions=_CORRUPTIONS,
)  # fmt: skip


def _helper_file(name: str) -> Path:
    """A file of robustbench's ``helper_files`` (found without importing robustbench)."""
    spec = importlib.util.find_spec("robustbench")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "robustbench is not installed: pip install robustbench (it lists ImageNet's test images)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "helper_files" / name


@lru_cache(maxsize=1)
def class_index() -> dict[str, int]:
    """wnid -> class index, RobustBench's map (the 1,000 wnids sorted)."""
    return json.loads(_helper_file("imagenet_class_to_id_map.json").read_text())


@lru_cache(maxsize=1)
def robustbench_subset() -> tuple[str, ...]:
    """RobustBench's 5,000 test images as ``<wnid>/<file>``, in its order."""
    lines = _helper_file("imagenet_test_image_ids.txt").read_text().splitlines()
    return tuple(line.strip() for line in lines if line.strip())


def val_folder(data_dir: Path | None) -> Path:
    """``<data_dir>/val``, ``<data_dir>/imagenet/val`` (a data folder shared with other
    datasets, as ``$FREQBENCH_DATA`` is) or the val folder itself."""
    root = data_dir or Path.home() / ".cache" / "freqbench" / "data"
    for folder in (root / "val", root / "imagenet" / "val"):
        if folder.is_dir():
            return folder
    if root.is_dir() and any(_WNID.match(p.name) for p in root.iterdir() if p.is_dir()):
        return root  # the val folder itself
    raise UserError(f"no ImageNet validation folder under {root}: {LAYOUT}")


def _stream(
    folder: Path, names: list[str], preprocessing: str, info: DatasetInfo, hint: str
) -> ImageStream:
    import torch

    index = class_index()
    unknown = sorted({name.split("/")[0] for name in names} - set(index))
    if unknown:
        raise UserError(
            f"{folder} holds folders that are not ImageNet wnids: {', '.join(unknown[:5])}; "
            f"{LAYOUT}"
        )
    labels = torch.tensor([index[name.split("/")[0]] for name in names], dtype=torch.long)
    files = tuple(folder / name for name in names)
    return ImageStream(files, labels, info, preprocessing, missing_hint=hint)


@register_dataset(IMAGENET)
def load_imagenet(split: str, data_dir: Path | None, preprocessing: str) -> ImageStream:
    """RobustBench's 5,000 images; the files are checked when the first n are taken."""
    folder = val_folder(data_dir)
    hint = (
        "RobustBench's ImageNet test set is 5000 listed validation images "
        f"(robustbench/helper_files/imagenet_test_image_ids.txt); {LAYOUT}"
    )
    return _stream(folder, list(robustbench_subset()), preprocessing, IMAGENET, hint)


@register_dataset(IMAGENET_VAL)
def load_imagenet_val(split: str, data_dir: Path | None, preprocessing: str) -> ImageStream:
    """Every image of the validation folder, sorted by wnid and file name, labelled by the
    class map (:func:`class_index`) even where only some wnid folders are present."""
    folder = val_folder(data_dir)
    names = sorted(
        f"{wnid.name}/{path.name}"
        for wnid in folder.iterdir()
        if wnid.is_dir()
        for path in wnid.iterdir()
        if path.suffix.lower() in EXTENSIONS
    )
    if not names:
        raise UserError(f"{folder} holds no images: {LAYOUT}")
    return _stream(folder, names, preprocessing, IMAGENET_VAL, LAYOUT)
