from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from freqbench.data import list_datasets, load_corruption, load_dataset, make_loader, make_synthetic
from freqbench.errors import UnknownNameError, UserError
from tests.conftest import read_idx_reference


def test_registry_lists_and_suggests():
    assert {"fashion-mnist", "cifar10", "cifar100", "cifar10-c", "synthetic"} <= set(
        list_datasets()
    )
    assert list_datasets("cifar10-*") == ["cifar10-b", "cifar10-c"]
    with pytest.raises(UnknownNameError, match="fashion-mnist"):
        load_dataset("fashion-mnst")


@pytest.mark.slow
def test_real_fashion_mnist(fmnist_dir):
    train, test = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.images.dtype == torch.float32
    assert float(test.images.min()) == 0.0 and float(test.images.max()) == 1.0
    shares = torch.bincount(test.labels, minlength=10).double() / len(test)
    assert set(test.labels.unique().tolist()) == set(range(10))
    assert torch.allclose(shares, torch.full((10,), 0.1, dtype=torch.float64), atol=0.01)
    labels = read_idx_reference(fmnist_dir / "t10k-labels-idx1-ubyte.gz")
    images = read_idx_reference(fmnist_dir / "t10k-images-idx3-ubyte.gz")
    assert int(test.labels[0]) == int(labels[0]) == 9  # ankle boot
    assert np.array_equal((test.images[:5, 0] * 255).round().byte().numpy(), images[:5])


def test_data_dir_and_env_are_searched_first(tmp_path, monkeypatch, fmnist_dir):
    import shutil

    for f in fmnist_dir.glob("t10k-*"):
        shutil.copy(f, tmp_path / f.name)
    from freqbench.data import fashion_mnist

    fashion_mnist._load_cached.cache_clear()
    data = load_dataset("fashion-mnist", "test", n_examples=3, data_dir=tmp_path)
    assert len(data) == 3
    monkeypatch.setenv("FREQBENCH_DATA", str(tmp_path))
    assert torch.equal(load_dataset("fashion-mnist", "test", n_examples=3).images, data.images)


def test_missing_fashion_mnist_names_every_way(tmp_path, monkeypatch):
    from freqbench.data import fashion_mnist

    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "nowhere")
    monkeypatch.setattr(
        fashion_mnist,
        "_torchvision_download",
        lambda root: (_ for _ in ()).throw(OSError("offline")),
    )
    fashion_mnist._load_cached.cache_clear()
    with pytest.raises(UserError) as err:
        load_dataset("fashion-mnist", data_dir=tmp_path)
    fashion_mnist._load_cached.cache_clear()
    for way in ("--data-dir", "FREQBENCH_DATA", "dataset-fashion-mnist", "torchvision"):
        assert way in str(err.value)


def _write_cifar10(root, n_train=20, n_test=10):
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    expected = {}
    for name, n in [(f"data_batch_{i}", n_train) for i in range(1, 6)] + [("test_batch", n_test)]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x"}, f)
        expected[name] = (data, labels)
    return expected


def test_cifar10_official_layout(tmp_path):
    expected = _write_cifar10(tmp_path)
    test = load_dataset("cifar10", "test", data_dir=tmp_path)
    data, labels = expected["test_batch"]
    assert test.images.shape == (10, 3, 32, 32)
    # Official rows are 1024 red, then green, then blue values, each row-major.
    assert test.images[3, 1, 2, 5] == pytest.approx(data[3, 1024 + 2 * 32 + 5] / 255)
    assert test.labels.tolist() == labels
    train = load_dataset("cifar10", "train", n_examples=100, data_dir=tmp_path)
    all_train_labels = [y for i in range(1, 6) for y in expected[f"data_batch_{i}"][1]]
    assert len(train) == 100 and train.labels.tolist() == all_train_labels


def test_cifar_pickle_with_code_is_refused(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    for name in ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": Evil(), b"labels": []}, f)
    from freqbench.data import cifar

    with pytest.raises(UserError, match="refusing to unpickle"):
        cifar.read_batch(folder / "test_batch")


def _write_cifar10c(folder, corruption="fog"):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(50000, 32, 32, 3), dtype=np.uint8)
    labels = np.tile(np.arange(10), 5000).astype(np.uint8)
    np.save(folder / f"{corruption}.npy", images)
    np.save(folder / "labels.npy", labels)
    return images, labels


def test_cifar10c_reads_one_severity(tmp_path):
    images, labels = _write_cifar10c(tmp_path)
    data = load_corruption("cifar10-c", "fog", 3, tmp_path, n_examples=7)
    assert data.images.shape == (7, 3, 32, 32)
    expected = torch.from_numpy(images[20000:20007]).permute(0, 3, 1, 2).float() / 255
    assert torch.equal(data.images, expected)
    assert data.labels.tolist() == labels[20000:20007].tolist()
    via_registry = load_dataset("cifar10-c", "fog:3", n_examples=7, data_dir=tmp_path)
    assert torch.equal(via_registry.images, data.images)
    with pytest.raises(UnknownNameError, match="fog"):
        load_corruption("cifar10-c", "fgo", 1, tmp_path)
    with pytest.raises(UserError, match="severity"):
        load_corruption("cifar10-c", "fog", 6, tmp_path)


def test_cifar10c_misshaped_file(tmp_path):
    np.save(tmp_path / "labels.npy", np.zeros(50000, dtype=np.uint8))
    np.save(tmp_path / "snow.npy", np.zeros((100, 32, 32, 3), dtype=np.uint8))
    with pytest.raises(UserError, match="expected 50000"):
        load_corruption("cifar10-c", "snow", 1, tmp_path)


N_PAIRED = 20  # the clean test images evaluated in the label tests


def _sparse_cifar10c(folder, test_labels: np.ndarray, labels: np.ndarray) -> torch.Tensor:
    """A CIFAR-10-C folder with ``labels`` as labels.npy, whose gaussian_noise.npy is the
    release's size but written only where read: severity 1's first images, each lit at its
    test label's level, k / 255 (see _ReadsLevel). Returns the first clean test labels."""
    from numpy.lib.format import open_memmap

    paired = test_labels[:N_PAIRED].astype(np.int64)
    images = open_memmap(folder / "gaussian_noise.npy", "w+", np.uint8, (50000, 32, 32, 3))
    images[:N_PAIRED] = paired[:, None, None, None]
    images.flush()
    np.save(folder / "labels.npy", labels)
    return torch.from_numpy(paired)


class _ReadsLevel(torch.nn.Module):
    """Predicts class k for an image at level k / 255 (right on every paired image)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level = (x.mean(dim=(1, 2, 3)) * 255).round().long()
        return torch.nn.functional.one_hot(level, 10).float()


def _first_cell(folder, test_labels: torch.Tensor) -> float:
    """The corruptions metric's gaussian_noise severity-1 cell (shard 1 of 75) on the official
    files in ``folder`` for the clean test images labelled ``test_labels``."""
    from freqbench.data.base import LabeledImages
    from freqbench.data.cifar import CIFAR10
    from freqbench.metrics.builtin.corruptions import corruption_accuracy

    clean = LabeledImages(torch.zeros(len(test_labels), 3, 32, 32), test_labels, CIFAR10)
    part = corruption_accuracy(
        _ReadsLevel(), clean, corruptions_dir=folder, progress=False, shard=(0, 75)
    )
    [(correct, counted)] = part.values["counts"].values()
    return correct / counted


def test_cifar10c_labels_that_pair_with_the_test_images_are_used(tmp_path):
    """The release's labels.npy: the test labels once per severity."""
    test_labels = np.random.default_rng(0).integers(0, 10, 10000).astype(np.uint8)
    paired = _sparse_cifar10c(tmp_path, test_labels, np.tile(test_labels, 5))
    assert _first_cell(tmp_path, paired) == 1.0
    data = load_corruption("cifar10-c", "gaussian_noise", 1, tmp_path, 7, test_labels=paired[:7])
    assert data.labels.tolist() == test_labels[:7].tolist() and data.labels.dtype == torch.int64


@pytest.mark.parametrize(
    ("case", "labels", "message"),
    [
        ("shuffled per severity", lambda t: np.random.default_rng(1).permutation(np.tile(t, 5)),
         "does not hold the same 10000 labels for each of the 5 severities"),
        ("shuffled, repeated", lambda t: np.tile(np.random.default_rng(1).permutation(t), 5),
         "does not pair with the clean test images"),
        ("12", lambda t: np.where(np.arange(50000) == 3, 12, np.tile(t, 5)).astype(np.uint8),
         "labels from 0 to 12, outside the 10 classes 0..9"),
        ("-1", lambda t: np.where(np.arange(50000) == 3, -1, np.tile(t, 5)).astype(np.int8),
         "labels from -1 to 9, outside the 10 classes"),
        ("float", lambda t: np.tile(t, 5).astype(np.float64), "holds float64 values"),
    ],
)  # fmt: skip
def test_cifar10c_labels_that_are_not_the_release_s_are_refused(tmp_path, case, labels, message):
    """Used as they were, these printed 20.00%, 0.00% and 5.00% (issue 26): now the file is
    named, whatever reads it (the metric, the cifar10-c dataset)."""
    test_labels = np.random.default_rng(0).integers(0, 10, 10000).astype(np.uint8)
    paired = _sparse_cifar10c(tmp_path, test_labels, labels(test_labels))
    where = rf"{tmp_path}/labels\.npy"
    with pytest.raises(UserError, match=rf"{where} .*{message}.*download it again"):
        _first_cell(tmp_path, paired)
    if case != "shuffled, repeated":  # without the clean test labels only the file is judged
        with pytest.raises(UserError, match=rf"{where} .*{message}"):
            load_dataset("cifar10-c", "gaussian_noise:1", data_dir=tmp_path)


def test_synthetic_is_deterministic_and_learnable():
    a, b = make_synthetic(64, size=28, channels=1, num_classes=4), make_synthetic(64, 28, 1, 4)
    assert torch.equal(a.images, b.images) and a.images.shape == (64, 1, 28, 28)
    assert a.info.num_classes == 4 and float(a.images.min()) >= 0 and float(a.images.max()) <= 1
    # A nearest-class-mean classifier fitted on train separates test well: there is structure.
    train = make_synthetic(400, num_classes=4, split="train")
    means = torch.stack([train.images[train.labels == c].mean(0) for c in range(4)])
    test = make_synthetic(200, num_classes=4)
    dist = ((test.images[:, None] - means[None]) ** 2).flatten(2).sum(-1)
    assert (dist.argmin(1) == test.labels).float().mean() > 0.9


def test_n_examples_and_loader():
    data = load_dataset("synthetic", "test", n_examples=10)
    assert len(data) == 10
    with pytest.raises(UserError, match="out of range"):
        load_dataset("synthetic", "test", n_examples=10**6)
    batches = [y for _, y in make_loader(data, batch_size=4, shuffle=True, seed=3)]
    again = [y for _, y in make_loader(data, batch_size=4, shuffle=True, seed=3)]
    assert [len(b) for b in batches] == [4, 4, 2]
    assert all(torch.equal(x, y) for x, y in zip(batches, again, strict=True))
