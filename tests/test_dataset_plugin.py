"""Dataset plugins: an installed package's card makes a first-class dataset.

The example plugin (examples/stl10-dataset, STL-10's binary format) is pip-installed into a
temporary folder, as a user installs it; files in STL-10's layout are written here from
known pixels, read back through the card's reader and evaluated into a record.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_plugins import REPO, freqbench, install_example

EXAMPLE = REPO / "examples" / "stl10-dataset"
N_IMAGES = 12


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    return install_example(EXAMPLE, tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def stl10_files(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """``stl10_binary/test_X.bin`` and ``test_y.bin`` as the release stores them: each image
    (96, 96, 3) written channel by channel, column-major; labels 1..10."""
    root = tmp_path_factory.mktemp("stl10")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (N_IMAGES, 96, 96, 3), dtype=np.uint8)  # (N, H, W, C)
    labels = (np.arange(N_IMAGES) % 10 + 1).astype(np.uint8)
    folder = root / "stl10_binary"
    folder.mkdir()
    column_major = np.stack([
        np.array([images[n, :, :, c].flatten(order="F") for c in range(3)])
        for n in range(N_IMAGES)
    ])  # fmt: skip
    column_major.tofile(folder / "test_X.bin")
    labels.tofile(folder / "test_y.bin")
    return root, images, labels


@pytest.mark.slow  # a pip install and three CLI processes
def test_the_stl10_plugin_is_listed_read_and_evaluated_into_a_record(
    installed, stl10_files, tmp_path, monkeypatch
):
    root, images, labels = stl10_files
    listed = freqbench(installed, "list", "datasets")
    assert listed.returncode == 0, listed.stderr
    assert "(plugin freqbench-stl10 0.1.0)" in listed.stdout
    assert "stl10-b" not in listed.stdout  # no variant unless its card names one

    monkeypatch.syspath_prepend(str(installed))
    from freqbench_stl10 import STL10, read_split

    read, read_labels = read_split("test", root)
    assert np.array_equal(read.numpy(), images.transpose(0, 3, 1, 2))  # (N, C, H, W)
    assert read_labels.tolist() == [int(y) - 1 for y in labels]
    assert STL10.name == "stl10" and STL10.image_size == (96, 96)
    sys.modules.pop("freqbench_stl10", None)

    out = tmp_path / "records" / "stl10"
    run = freqbench(
        installed, "evaluate", "--model", "smallcnn", "--random-init", "--dataset", "stl10",
        "--data-dir", str(root), "--metrics", "clean,band_split", "--n-examples", "8",
        "--out", str(out), "--name", "tiny", "--device", "cpu",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    record = json.loads((out / "tiny.json").read_text())
    assert record["dataset"] == "stl10"
    assert list(record["metrics"]) == ["clean", "band_split"]
    assert record["metrics"]["clean"]["n"] == 8
