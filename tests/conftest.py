"""Shared test fixtures: deterministic torch, and the real Fashion-MNIST files when installed."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True, scope="session")
def _private_array_cache(tmp_path_factory):
    """Generated corruption sets go to a cache of the test session's own (and subprocesses
    and Ray workers inherit it), never to the user's."""
    os.environ["FREQBENCH_CACHE"] = str(tmp_path_factory.mktemp("array-cache"))


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True, warn_only=True)
    yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture(scope="session")
def fmnist_dir() -> Path:
    if not (FMNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(
            f"real Fashion-MNIST is not installed in {FMNIST_DIR}: "
            "run `apt-get install dataset-fashion-mnist` (CI does)"
        )
    return FMNIST_DIR


def read_idx_reference(path: Path) -> np.ndarray:
    """An independent IDX reader: magic 0x0803 (images) or 0x0801 (labels), big-endian sizes."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw[4 + 4 * ndim :], dtype=np.uint8).reshape(dims)


@pytest.fixture(scope="session")
def synthetic_checkpoint(tmp_path_factory) -> Path:
    from tests.models import train_synthetic_smallcnn

    return train_synthetic_smallcnn(tmp_path_factory.mktemp("ckpt") / "model.safetensors")


def shrink_autoattack(monkeypatch) -> None:
    """Every AutoAttack built from now on runs with a tiny budget (both sides of a comparison)."""
    from pyautoattack import AutoAttack

    original = AutoAttack.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.apgd.n_iter = self.apgd_targeted.n_iter = self.fab.n_iter = 5
        self.apgd.n_iter_orig = self.apgd_targeted.n_iter_orig = 5  # L1's schedule reads it
        self.apgd_targeted.n_target_classes = self.fab.n_target_classes = 2
        self.square.n_queries = 20

    monkeypatch.setattr(AutoAttack, "__init__", init)


@pytest.fixture()
def small_budget(monkeypatch):
    shrink_autoattack(monkeypatch)
