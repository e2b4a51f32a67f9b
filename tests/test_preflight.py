"""Mistakes said in a second: every name, path and option that can be checked without torch
is, before torch, timm or robustbench is imported; each error keeps its close matches."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from freqbench.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "timm", "robustbench", "torchvision") if m in sys.modules)
print("imported:", ",".join(heavy) or "none")
sys.exit(code)
"""

CASES = [
    (["evaluate", "--model", "smallcnn-pgd-att"], "Did you mean: smallcnn-pgd-at"),
    (["evaluate", "--model", "smallcnn-natural", "--dataset", "fashionmnist"],
     "unknown dataset 'fashionmnist'. Did you mean: fashion-mnist"),
    (["evaluate", "--model", "timm:resnet5", "--random-init"], "Did you mean: resnet50"),
    (["evaluate", "--model", "timm:resnet50@a1_in1kk"], "Did you mean: a1_in1k"),
    (["evaluate", "--model", "robustbench:cifar10/Linf/Carmon2019Unlabelled"],
     "Did you mean: Carmon2019Unlabeled"),
    (["evaluate", "--model", "robustbench:cifar10/Linff/Standard"], "Did you mean: cifar10/Linf"),
    (["evaluate", "--model", "smallcnn-natural", "--metrics", "cleen"], "Did you mean: clean"),
    (["evaluate", "--model", "smallcnn-natural", "--data-dir", "/nonexistent"],
     "--data-dir /nonexistent does not exist"),
    (["evaluate", "--model", "runs/nowhere/model.safetensors"], "does not exist"),
    (["evaluate", "--model", "smalcnn", "--random-init"], "Did you mean: smallcnn"),
    (["train", "--recipe", "pgd-att", "--out", "run"], "Did you mean: pgd-at"),
    (["train", "--arch", "resnet-18", "--out", "run"], "Did you mean: resnet18"),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "words"), CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else None
)
def test_a_mistake_is_said_before_torch_is_imported(argv, words, tmp_path):
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert words in line, line
    assert done.stdout.strip() == "imported: none"
    assert list(tmp_path.iterdir()) == []  # nothing written
