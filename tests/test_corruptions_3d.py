"""The corruptions_3d threat model end to end: synthetic ImageNet-3DCC release files in
robustbench's layout -> ``freqbench evaluate --threat-model corruptions_3d`` -> a record ->
the board's ImageNet-3DCC view. (The reader itself is checked against robustbench's
``load_imagenet3dcc`` in tests/test_imagenet_3dcc.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from freqbench.data import load_dataset
from freqbench.data.imagenet import robustbench_subset
from freqbench.metrics.builtin.corruptions_3d import CELLS


def _save(rng: np.random.Generator, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    smooth = rng.integers(0, 255, (29, 29, 3), dtype=np.uint8)
    pixels = np.kron(smooth, np.ones((8, 8, 1), dtype=np.uint8))[:224, :224]
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """``<root>/val/<wnid>/<file>`` and ``<root>/ImageNet-3DCC/<corruption>/<severity>/
    <wnid>/<file>`` for the first image of RobustBench's list, in all 60 cells."""
    root = tmp_path_factory.mktemp("3dcc-e2e")
    rng = np.random.default_rng(0)
    name = robustbench_subset()[0]
    _save(rng, root / "val" / name)
    for corruption, severity in CELLS:
        _save(rng, root / "ImageNet-3DCC" / corruption / str(severity) / name)
    return root


def test_the_cells_are_robustbench_s():
    from robustbench.data import CORRUPTIONS_3DCC

    assert [c for c, s in CELLS if s == 1] == list(CORRUPTIONS_3DCC) and len(CELLS) == 60


def test_all_leaves_it_out_and_the_threat_model_adds_it():
    from freqbench.metrics import parse_metrics

    assert "corruptions_3d" not in [m.name for m in parse_metrics("all")]


@pytest.mark.slow
def test_evaluate_corruptions_3d_into_a_record_and_its_view(release, tmp_path, monkeypatch, capsys):
    from freqbench.cli import main
    from freqbench.loading import ModelRef, load_model_ref

    monkeypatch.setenv("FREQBENCH_DATA_WORKERS", "0")
    out = tmp_path / "records"
    assert main([
        "evaluate", "--model", "timm:resnet10t", "--random-init", "--dataset", "imagenet",
        "--data-dir", str(release), "--n-examples", "1", "--threat-model", "corruptions_3d",
        "--metrics", "clean", "--corruptions-dir", str(release), "--out", str(out),
        "--name", "r", "--device", "cpu", "--preprocessing", "Res224",
    ]) == 0, capsys.readouterr().err  # fmt: skip
    record = json.loads((out / "r.json").read_text())
    block = record["metrics"]["corruptions_3d"]
    assert block["n"] == 1 and len(block["cells"]) == 12
    # The reference: the same model on each release image, decoded here (Res224 leaves a
    # 224 px image as it is).
    model = load_model_ref(ModelRef("timm:resnet10t", None, True), "imagenet", "cpu").model
    label = int(load_dataset("imagenet", n_examples=1, data_dir=release).labels[0])
    for corruption, severity in CELLS:
        path = release / "ImageNet-3DCC" / corruption / str(severity) / robustbench_subset()[0]
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
        with torch.no_grad():
            right = int(model(torch.from_numpy(pixels).permute(2, 0, 1)[None]).argmax(1)) == label
        assert block["cells"][corruption][severity - 1] == float(right), (corruption, severity)
    assert record["model_info"]["corruptions_acc_3d"] == pytest.approx(100 * block["mean"])
    (out / "leaderboard.toml").write_text('metrics = ["clean", "corruptions_3d"]\n')
    capsys.readouterr()
    assert main(["leaderboard", "--records-dir", str(out), "--dataset", "imagenet",
                 "--threat-model", "corruptions_3d"]) == 0  # fmt: skip
    page = capsys.readouterr().out
    assert "3D common corruptions (ImageNet-3DCC)" in page and "| r " in page
