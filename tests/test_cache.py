"""The array cache and the corruption sets it shares: made once per image set, read back by
every later evaluation, checked on every read, bounded, and cleared on request."""

from __future__ import annotations

import os

import numpy as np
import torch

from freqbench.cache import ArrayCache, content_key
from freqbench.cli import main
from freqbench.data import load_dataset
from freqbench.metrics import get_metric
from freqbench.metrics.builtin import corruptions as metric


def test_entries_round_trip_and_a_damaged_one_is_made_again(tmp_path):
    cache = ArrayCache(tmp_path, max_bytes=10**9)
    key = content_key({"what": "a test"})
    array = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    cache.put(key, array, "a test array")
    assert np.array_equal(cache.get(key), array)
    path = next(tmp_path.glob("??/*.npy"))
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # one bit of the array flipped on disk
    path.write_bytes(bytes(data))
    assert cache.get(key) is None and not path.exists()  # refused and removed


def test_the_least_recently_used_entries_go_first(tmp_path):
    cache = ArrayCache(tmp_path, max_bytes=10**9)
    keys = [content_key({"n": i}) for i in range(3)]
    for i, key in enumerate(keys):
        cache.put(key, np.full(1000, i, dtype=np.uint8), f"entry {i}")
    one = cache.entries()[0].size
    for age, key in zip((300, 100, 200), keys, strict=True):  # entry 0 used longest ago
        path = tmp_path / key[:2] / f"{key}.npy"
        os.utime(path, (path.stat().st_mtime - age, path.stat().st_mtime - age))
    cache.max_bytes = 2 * one
    removed = cache.evict()
    assert [e.key for e in removed] == [keys[0]]
    assert cache.get(keys[1]) is not None and cache.get(keys[0]) is None
    assert cache.clear() == 2 * one and cache.entries() == []


def test_a_generated_cell_is_the_reference_uint8_of_the_corruption(tmp_path):
    """Hendrycks' generator saves np.uint8 of the 0-255 image; the cache holds the same."""
    from freqbench.corruptions import corrupt

    data = load_dataset("synthetic", "test", n_examples=40)
    cache = ArrayCache(tmp_path)
    list(metric._generated(data, 0, [("gaussian_noise", 3)], cache))
    key = metric.cell_key(metric.images_sha256(data.images), 0, "gaussian_noise", 3)
    reference = np.uint8(corrupt(data.images, "gaussian_noise", 3, seed=0).numpy() * 255)
    assert np.array_equal(cache.get(key), reference)


def test_the_second_model_reads_the_cells_the_first_made(
    tmp_path, synthetic_checkpoint, monkeypatch
):
    from freqbench import corruptions
    from freqbench.checkpoints import load_checkpoint

    made = []
    original = corruptions.corrupted_batches

    def counting(*args, **kwargs):
        made.append(kwargs.get("names"))
        return original(*args, **kwargs)

    monkeypatch.setattr(corruptions, "corrupted_batches", counting)
    model, _ = load_checkpoint(synthetic_checkpoint)
    other = torch.nn.Sequential(model, torch.nn.Identity())  # a second model, same images
    data = load_dataset("synthetic", "test", n_examples=24)
    compute = get_metric("corruptions").compute
    first = compute(model, data, cache_dir=tmp_path, seed=0, progress=False)
    assert len(made) == 75
    second = compute(other, data, cache_dir=tmp_path, seed=0, progress=False)
    assert len(made) == 75  # nothing made again
    assert second.values["cells"] == first.values["cells"]
    compute(model, data, cache_dir=tmp_path, seed=1, progress=False)
    assert len(made) == 150  # another seed is another set


def test_cache_info_and_clear(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FREQBENCH_CACHE_MAX_GB", "10")
    key = content_key({"x": 1})
    ArrayCache(tmp_path).put(key, np.zeros(10, np.uint8), "ten zeros")
    assert main(["cache", "info", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ten zeros" in out and "1 entries" in out
    assert "of at most 10.0 GB" in out  # the limit in the unit it is set in
    (tmp_path / key[:2] / f".{key}.npy.0123abcd.tmp").write_bytes(b"x" * 1000)  # a killed write
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0
    assert "removed 1.1 kB" in capsys.readouterr().out  # 1,000 B left over, 138 B of entry
    assert ArrayCache(tmp_path).entries() == []
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_cell_of_any_size_round_trips(tmp_path):
    data = load_dataset("synthetic", "test", n_examples=7)
    parts = list(metric._generated(data, 0, [("contrast", 1)], ArrayCache(tmp_path)))
    again = list(metric._generated(data, 0, [("contrast", 1)], ArrayCache(tmp_path)))
    assert [len(p[2]) for p in parts] == [7]
    assert torch.equal(parts[0][2], again[0][2])
