"""The array cache and the corruption sets it shares: made once per image set, read back by
every later evaluation, checked on every read, bounded, and cleared on request."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from freqbench.cache import ArrayCache, content_key
from freqbench.cli import main
from freqbench.data import generated_corruptions as generated
from freqbench.data import load_dataset
from freqbench.metrics import get_metric


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
    with pytest.warns(UserWarning, match="freqbench: cache entry .* damaged"):
        assert cache.get(key) is None
    assert not path.exists()  # refused and removed


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
    files = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())  # with sidecars
    assert cache.clear().freed == files and cache.entries() == []


def test_a_generated_cell_is_the_reference_uint8_of_the_corruption(tmp_path):
    """Hendrycks' generator saves np.uint8 of the 0-255 image; the cache holds the same."""
    from freqbench.corruptions import corrupt

    data = load_dataset("synthetic", "test", n_examples=40)
    cache = ArrayCache(tmp_path)
    list(generated.generated_cells(data, 0, [("gaussian_noise", 3)], cache))
    key = generated.cell_key(generated.images_sha256(data.images), 0, "gaussian_noise", 3)
    reference = np.uint8(corrupt(data.images, "gaussian_noise", 3, seed=0).numpy() * 255)
    assert np.array_equal(cache.get(key), reference)


@pytest.mark.slow
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
    sidecar = (tmp_path / key[:2] / f"{key}.json").stat().st_size
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0
    freed = 1000 + 138 + sidecar  # left over; the .npy of ten bytes (128 of header); sidecar
    assert f"removed {freed / 1000:.1f} kB" in capsys.readouterr().out
    assert ArrayCache(tmp_path).entries() == []
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_cell_of_any_size_round_trips(tmp_path):
    data = load_dataset("synthetic", "test", n_examples=7)
    parts = list(generated.generated_cells(data, 0, [("contrast", 1)], ArrayCache(tmp_path)))
    again = list(generated.generated_cells(data, 0, [("contrast", 1)], ArrayCache(tmp_path)))
    assert [len(p[2]) for p in parts] == [7]
    assert torch.equal(parts[0][2], again[0][2])


# --- an entry belongs to its key: anything else is a miss, said once, and made again ---


def _entry(root, key):
    return root / key[:2] / f"{key}.npy", root / key[:2] / f"{key}.json"


def _warned_once(record, path) -> None:
    """One freqbench warning, naming the entry, and no other."""
    messages = [str(w.message) for w in record]
    assert len(messages) == 1, messages
    assert messages[0].startswith("freqbench: cache entry ") and str(path) in messages[0]


def test_an_entry_copied_onto_another_key_is_a_miss_and_the_cell_is_made_again(tmp_path):
    """The issue's wrong mean: one cell's .npy and sidecar copied onto another cell."""
    import shutil
    import warnings

    from freqbench.corruptions import corrupt

    data = load_dataset("synthetic", "test", n_examples=12)
    cache = ArrayCache(tmp_path)
    cells = [("gaussian_noise", 3), ("contrast", 1)]
    list(generated.generated_cells(data, 0, cells, cache))
    shared = generated.images_sha256(data.images)
    noise, contrast = (generated.cell_key(shared, 0, name, s) for name, s in cells)
    for source, target in zip(_entry(tmp_path, noise), _entry(tmp_path, contrast), strict=True):
        shutil.copyfile(source, target)  # the same shape and dtype: only the key tells them apart
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        [(_, _, images, _)] = generated.generated_cells(data, 0, [("contrast", 1)], cache)
    _warned_once(record, _entry(tmp_path, contrast)[0])
    assert "another key" in str(record[0].message)
    reference = np.uint8(corrupt(data.images, "contrast", 1, seed=0).numpy() * 255)
    assert np.array_equal((images * 255).round().numpy().astype(np.uint8), reference)
    assert np.array_equal(cache.get(contrast, reference.shape, np.uint8), reference)  # rewritten


def test_a_linked_entry_is_a_miss_and_its_target_is_kept(tmp_path):
    import warnings

    cache = ArrayCache(tmp_path)
    keys = [content_key({"n": i}) for i in range(2)]
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    cache.put(keys[0], array, "the real one")
    (tmp_path / keys[1][:2]).mkdir(exist_ok=True)
    for source, target in zip(_entry(tmp_path, keys[0]), _entry(tmp_path, keys[1]), strict=True):
        target.symlink_to(source)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert cache.get(keys[1], array.shape, np.uint8) is None
    _warned_once(record, _entry(tmp_path, keys[1])[0])
    assert "symbolic link" in str(record[0].message)
    assert not any(p.is_symlink() for p in _entry(tmp_path, keys[1]))  # the links went
    assert np.array_equal(cache.get(keys[0]), array)  # what they led to did not


def test_a_shard_folder_linked_out_of_the_cache_is_never_read_nor_emptied(tmp_path):
    import warnings

    cache, outside = ArrayCache(tmp_path / "cache"), ArrayCache(tmp_path / "outside")
    key = content_key({"x": "outside"})
    outside.put(key, np.ones(5, np.uint8), "a valid entry, outside the cache")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / key[:2]).symlink_to(tmp_path / "outside" / key[:2])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert cache.get(key) is None
    assert len(record) == 1 and "symbolic link" in str(record[0].message)
    cache.put(key, np.zeros(5, np.uint8), "never written through the link")
    assert np.array_equal(outside.get(key), np.ones(5, np.uint8))
    assert cache.clear().left == [] and not (tmp_path / "cache" / key[:2]).exists()
    assert np.array_equal(outside.get(key), np.ones(5, np.uint8))  # only the link went


def _within(seconds, function, root):
    """``function()``'s result, failing (after unblocking it) if it takes over ``seconds``."""
    import stat
    import threading

    result = {}
    thread = threading.Thread(target=lambda: result.update(value=function()), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():  # blocked on a FIFO: give each a writer, so that the test ends
        for path in root.rglob("*"):
            if stat.S_ISFIFO(path.lstat().st_mode):
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        raise AssertionError(f"{function} blocked on a FIFO")
    return result["value"]


@pytest.mark.parametrize("which", [0, 1], ids=["array", "sidecar"])
def test_a_fifo_in_place_of_an_entry_is_a_miss_without_blocking(tmp_path, which):
    """The issue's hang: an entry replaced by a FIFO kept evaluate at 0/75 chunks forever."""
    import warnings

    cache = ArrayCache(tmp_path)
    key = content_key({"fifo": which})
    cache.put(key, np.zeros(8, np.uint8), "soon a FIFO")
    fifo = _entry(tmp_path, key)[which]
    fifo.unlink()
    os.mkfifo(fifo)
    assert _within(10, cache.entries, tmp_path) == []  # cache info reads sidecars
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert _within(10, lambda: cache.get(key, (8,), np.uint8), tmp_path) is None
    _warned_once(record, _entry(tmp_path, key)[0])
    assert "FIFO" in str(record[0].message) and not fifo.exists()
    cache.put(key, np.ones(8, np.uint8), "made again")
    assert np.array_equal(cache.get(key, (8,), np.uint8), np.ones(8, np.uint8))


def test_a_fifo_named_like_a_killed_write_blocks_neither_a_write_nor_clear(tmp_path):
    cache = ArrayCache(tmp_path)
    key = content_key({"fifo": "leftover"})
    (tmp_path / key[:2]).mkdir()
    fifo = tmp_path / key[:2] / f".{key}.npy.0123abcd.tmp"
    os.mkfifo(fifo)
    _within(10, lambda: cache.put(key, np.zeros(3, np.uint8), "beside a FIFO"), tmp_path)
    assert np.array_equal(cache.get(key), np.zeros(3, np.uint8))
    assert _within(10, cache.clear, tmp_path).left == [] and not fifo.exists()


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((3, 4, 6), np.uint8), ((3, 4), np.uint8), ((3, 4, 5), np.float32), ((None, 4, 6), None)],
)
def test_an_entry_of_another_shape_or_dtype_is_a_miss(tmp_path, shape, dtype):
    import warnings

    cache = ArrayCache(tmp_path)
    key = content_key({"shape": "checked"})
    cache.put(key, np.zeros((3, 4, 5), np.uint8), "3 x 4 x 5 bytes")
    assert cache.get(key, (None, 4, 5), np.uint8) is not None  # None: any length
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert cache.get(key, shape, dtype) is None
    _warned_once(record, _entry(tmp_path, key)[0])
    assert cache.get(key) is None and not _entry(tmp_path, key)[0].exists()  # removed


def test_a_sidecar_that_disagrees_with_its_array_is_a_miss(tmp_path):
    """A sidecar of the right key and sha256 over an array of another shape: the shape is
    part of what the sidecar vouches for."""
    import json
    import warnings

    cache = ArrayCache(tmp_path)
    key = content_key({"sidecar": "forged"})
    cache.put(key, np.zeros((2, 6), np.uint8), "2 x 6")
    meta_path = _entry(tmp_path, key)[1]
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "shape": [3, 4]}))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert cache.get(key, (3, 4), np.uint8) is None
    _warned_once(record, _entry(tmp_path, key)[0])


def test_clear_removes_everything_of_the_layout_and_nothing_else(tmp_path, capsys):
    """Entries, leftovers, a folder named like an entry, a FIFO and links are removed (links
    without what they lead to); files that are not the cache's are kept."""
    root, outside = tmp_path / "cache", tmp_path / "outside.txt"
    outside.write_text("not the cache's")
    cache = ArrayCache(root)
    keys = [content_key({"clear": i}) for i in range(5)]
    cache.put(keys[0], np.zeros(10, np.uint8), "an entry")
    for key in keys[1:]:
        (root / key[:2]).mkdir(exist_ok=True)
    folder = root / keys[1][:2] / f"{keys[1]}.npy"  # a folder named like an entry
    (folder / "inner").mkdir(parents=True)
    (folder / "inner" / "data").write_bytes(b"y" * 100)
    os.mkfifo(root / keys[2][:2] / f"{keys[2]}.json")
    (root / keys[3][:2] / f"{keys[3]}.npy").symlink_to(outside)
    (root / keys[4][:2] / f".{keys[4]}.json.89abcdef.tmp").mkdir()  # a leftover's name
    (root / "README").write_text("a file of the user's, beside the cache")
    assert _within(20, lambda: main(["cache", "clear", "--cache-dir", str(root)]), root) == 0
    out = capsys.readouterr().out
    assert "left" not in out
    assert [p.name for p in root.rglob("*")] == ["README"]
    assert outside.read_text() == "not the cache's"


def test_clear_names_what_a_live_write_holds_and_exits_1(tmp_path, capsys):
    import fcntl

    cache = ArrayCache(tmp_path)
    key = content_key({"live": True})
    cache.put(key, np.zeros(4, np.uint8), "an entry")
    live = tmp_path / key[:2] / f".{key}.npy.0123abcd.tmp"
    with open(live, "wb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # as a writer holds its temporary file
        assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"left {live}: a write in progress holds it" in out
    assert cache.entries() == [] and live.exists()
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0  # once it is done
    assert list(tmp_path.rglob("*")) == []


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308", "-1", "ten", "9223372037"])
@pytest.mark.parametrize("command", [["cache", "info"], ["evaluate", "--model", "smallcnn"]])
def test_a_cache_size_that_is_no_finite_number_of_gigabytes_is_one_clear_line(
    tmp_path, capsys, monkeypatch, value, command
):
    monkeypatch.setenv("FREQBENCH_CACHE_MAX_GB", value)
    assert main([*command, "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"freqbench {command[0]}: error: $FREQBENCH_CACHE_MAX_GB must be a finite number in "
        f"[0, 9223372036], got '{value}'"
    ]
    assert list(tmp_path.iterdir()) == []  # nothing made


def test_a_cache_size_of_zero_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("FREQBENCH_CACHE_MAX_GB", "0")
    cache = ArrayCache(tmp_path)
    cache.put(content_key({"kept": False}), np.zeros(4, np.uint8), "evicted at once")
    assert cache.max_bytes == 0 and cache.entries() == []
