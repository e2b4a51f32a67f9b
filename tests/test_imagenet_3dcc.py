"""ImageNet-3DCC release files, read by the data layer's source, against robustbench's own
loader (``robustbench.data.load_imagenet3dcc``, called directly on the same folder): the same
layout, image list, labels and Res224 preprocessing, pixel for pixel."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from freqbench.data import load_dataset
from freqbench.data.corrupted import corrupted_source, corruption_cells
from freqbench.data.imagenet import class_index, robustbench_subset
from freqbench.errors import UserError

N_IMAGES = 3
CELLS = [("near_focus", 1), ("z_motion_blur", 5)]  # the first and the last of the 12
SIZES = [(224, 224), (300, 260), (200, 180)]  # the release is 224; others go through Resize


def _image(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    h, w = size
    smooth = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    return Image.fromarray(np.kron(smooth, np.ones((8, 8, 1), dtype=np.uint8))[:h, :w])


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """``<root>/ImageNet-3DCC/<corruption>/<severity>/<wnid>/<file>`` for the first images of
    RobustBench's list, beside a clean ``<root>/val``; every wnid has its folder, as in the
    release (robustbench numbers the folders it finds and looks up every listed wnid)."""
    root = tmp_path_factory.mktemp("3dcc")
    rng = np.random.default_rng(0)
    names = robustbench_subset()[:N_IMAGES]
    folders = [root / "val"] + [root / "ImageNet-3DCC" / c / str(s) for c, s in CELLS]
    for folder in folders:
        for wnid in class_index():
            (folder / wnid).mkdir(parents=True)
        for name, size in zip(names, SIZES, strict=True):
            _image(rng, size).save(folder / name, format="JPEG", quality=90)
    return root


def test_3dcc_has_robustbench_s_12_corruptions_at_5_severities():
    from robustbench.data import CORRUPTIONS_3DCC

    cells = corruption_cells("3dcc")
    assert len(cells) == 60
    assert [c for c, s in cells if s == 1] == list(CORRUPTIONS_3DCC)


def test_the_3dcc_source_reads_what_robustbench_s_loader_reads(release):
    from robustbench.data import PREPROCESSINGS, load_imagenet3dcc

    data = load_dataset("imagenet", n_examples=N_IMAGES, data_dir=release)
    source = corrupted_source(data, corruption_set="3dcc", directory=release, cells=CELLS)
    assert source.kind == "files" and source.mce_baseline is None and source.record == {}
    read = {(c, s): (x, y) for c, s, x, y in source.batches}  # one batch per cell
    assert list(read) == CELLS
    for corruption, severity in CELLS:
        expected_x, expected_y = load_imagenet3dcc(
            N_IMAGES, severity, str(release), corruptions=[corruption],
            prepr=PREPROCESSINGS["Res224"],
        )  # fmt: skip
        images, labels = read[corruption, severity]
        assert images.shape == (N_IMAGES, 3, 224, 224)
        torch.testing.assert_close(images, expected_x, rtol=0, atol=0)
        assert labels.tolist() == expected_y.tolist()
    map_path = Path(__import__("robustbench").__file__).parent / "helper_files"
    classes = json.loads((map_path / "imagenet_class_to_id_map.json").read_text())
    assert read[CELLS[0]][1].tolist() == [classes[n.split("/")[0]] for n in robustbench_subset()[:N_IMAGES]]  # fmt: skip


def test_3dcc_cannot_be_generated_and_a_missing_cell_says_the_layout(release):
    data = load_dataset("imagenet", n_examples=N_IMAGES, data_dir=release)
    with pytest.raises(
        UserError, match=r"ImageNet-3DCC cannot be generated for imagenet: pass .*--corruptions-dir"
    ):
        corrupted_source(data, corruption_set="3dcc")
    source = corrupted_source(data, corruption_set="3dcc", directory=release, cells=[("flash", 2)])
    with pytest.raises(UserError, match="ImageNet-3DCC's release layout is"):
        next(source.batches)
    with pytest.raises(UserError, match="unknown corruption set 'imagenet-3dcc'"):
        corrupted_source(data, corruption_set="imagenet-3dcc")
