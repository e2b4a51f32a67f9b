"""Image files as freqbench reads them: what robustbench's, timm's and torchvision's loaders
read (PIL, ``convert("RGB")``), and what freqbench refuses by name instead of reading wrongly
or hanging on (16-bit and float pixels, decompression bombs, FIFOs, devices, folders)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from freqbench.data import load_dataset
from freqbench.data.stream import DEFAULT_MAX_IMAGE_PIXELS, decoded_batches, max_image_pixels
from freqbench.errors import UserError

WNID = "n01440764"  # class 0 of RobustBench's class map
SIDE = 224  # Res224 leaves a 224 x 224 image as it is: the tensor holds the decoded pixels


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging (a FIFO opened for reading blocks until a writer comes)."""

    def expire(*_: object) -> None:
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def folder_of(tmp_path: Path, images: dict[str, Image.Image]) -> Path:
    """An ImageFolder ``val/<wnid>/`` holding ``images`` by file name: TIFF for .tif, else PNG
    (also under a .JPEG name, as the issue's bomb was)."""
    folder = tmp_path / "val" / WNID
    folder.mkdir(parents=True)
    for name, image in images.items():
        image.save(folder / name, format="TIFF" if name.endswith(".tif") else "PNG")
    return tmp_path


def read_all(root: Path) -> tuple[list[Path], np.ndarray]:
    """The files of ``imagenet-val`` in ``root`` and their pixels as freqbench decodes them
    (HWC uint8)."""
    data = load_dataset("imagenet-val", data_dir=root, preprocessing="Res224")
    images = data.take(0, len(data)).images
    return list(data.files), (images * 255).round().byte().permute(0, 2, 3, 1).numpy()


def test_palette_and_alpha_images_decode_as_the_loaders_do(tmp_path):
    """A palette image is looked up in its palette, alpha is dropped (not composited), grey is
    repeated: what ``convert("RGB")`` gives, and so torchvision's ``default_loader`` (which
    robustbench's and timm's loaders equal)."""
    from torchvision.datasets.folder import default_loader

    rng = np.random.default_rng(0)
    index = rng.integers(0, 16, (SIDE, SIDE), dtype=np.uint8)
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (SIDE, SIDE, 4), dtype=np.uint8)
    la = rng.integers(0, 256, (SIDE, SIDE, 2), dtype=np.uint8)
    paletted = Image.fromarray(index, mode="P")
    paletted.putpalette(palette.tobytes())
    transparent = paletted.copy()
    transparent.info["transparency"] = 3  # palette entry 3 is transparent: still its colour
    root = folder_of(tmp_path, {
        "a_palette.png": paletted, "b_rgba.png": Image.fromarray(rgba, mode="RGBA"),
        "c_la.png": Image.fromarray(la, mode="LA"), "d_transparent.png": transparent,
    })  # fmt: skip
    expected = {
        "a_palette.png": palette[index],
        "b_rgba.png": rgba[..., :3],
        "c_la.png": np.repeat(la[..., :1], 3, axis=-1),
        "d_transparent.png": palette[index],
    }
    files, ours = read_all(root)
    assert [f.name for f in files] == sorted(expected)
    for path, pixels in zip(files, ours, strict=True):
        with Image.open(path) as image:
            assert image.mode in ("P", "RGBA", "LA")  # saved as the mode it was made in
        assert np.array_equal(pixels, expected[path.name]), path.name
        assert np.array_equal(pixels, np.asarray(default_loader(str(path)))), path.name


@pytest.mark.parametrize(
    ("name", "image", "mode"),
    [
        ("g16.png", Image.fromarray(np.full((SIDE, SIDE), 30000, np.uint16)), "I;16"),
        ("f32.tif", Image.fromarray(np.full((SIDE, SIDE), 0.5, np.float32)), "F"),
        ("i32.tif", Image.fromarray(np.full((SIDE, SIDE), 70000, np.int32)), "I"),
    ],
)
def test_16_bit_and_float_images_are_refused_by_name(tmp_path, name, image, mode):
    """``convert("RGB")`` clips such pixels to 0..255 (30000 and 70000 become white, 0.5
    black): refused with what to do, never read."""
    root = folder_of(tmp_path, {name: image})
    with Image.open(root / "val" / WNID / name) as saved:
        assert saved.mode == mode and len(set(np.asarray(saved.convert("RGB")).flat)) == 1
    with pytest.raises(UserError, match=rf"{name} holds .*PIL mode {mode}.*convert it to an 8-bit"):
        read_all(root)


def test_decompression_bombs_are_refused_by_name_below_and_above_twice_the_limit(
    tmp_path, monkeypatch
):
    """PIL raises past twice its limit and only warns between once and twice: both are refused,
    naming the file and the setting. The limit is set low here rather than writing 900 MP."""
    monkeypatch.setenv("FREQBENCH_MAX_IMAGE_PIXELS", "1000")
    pil_limit = Image.MAX_IMAGE_PIXELS
    for name, side in (("warned.JPEG", 40), ("raised.JPEG", 50)):  # 1600 and 2500 pixels
        root = tmp_path / name
        folder_of(root, {name: Image.new("RGB", (side, side), (10, 20, 30))})
        with pytest.raises(UserError, match=rf"{name} has {side * side} pixels, more than the "
                           r"limit of 1000 pixels.*\$FREQBENCH_MAX_IMAGE_PIXELS"):  # fmt: skip
            read_all(root)
        assert pil_limit == Image.MAX_IMAGE_PIXELS  # PIL's own setting is left as it was
    small = tmp_path / "small"
    folder_of(small, {"ok.png": Image.new("RGB", (30, 30), (10, 20, 30))})  # 900 pixels
    data = load_dataset("imagenet-val", data_dir=small, preprocessing="Res224")
    assert data.take(0, 1).images.shape == (1, 3, SIDE, SIDE)
    monkeypatch.setenv("FREQBENCH_MAX_IMAGE_PIXELS", str(200 * 10**6))  # above PIL's 2x too
    big = 13000  # 169 MP in a PNG header: PIL would warn at its own limit; checked, not decoded
    monkeypatch.setattr(Image.Image, "convert", lambda self, mode: Image.new("RGB", (4, 4)))
    folder_of(tmp_path / "big", {"big.png": Image.new("1", (big, big))})
    assert read_all(tmp_path / "big")[1].shape == (1, SIDE, SIDE, 3)


@pytest.mark.parametrize("text", ["0", "-5", "1e9", "many", "", "１２"])
def test_the_pixel_limit_setting_is_a_positive_whole_number(monkeypatch, text):
    monkeypatch.setenv("FREQBENCH_MAX_IMAGE_PIXELS", text)
    with pytest.raises(UserError, match=r"FREQBENCH_MAX_IMAGE_PIXELS must be a whole number"):
        max_image_pixels()
    monkeypatch.delenv("FREQBENCH_MAX_IMAGE_PIXELS")
    assert max_image_pixels() == DEFAULT_MAX_IMAGE_PIXELS == Image.MAX_IMAGE_PIXELS


def test_a_bomb_reaches_the_cli_as_one_line(tmp_path, monkeypatch, capsys):
    """The issue's case (a huge PNG named .JPEG), with the limit set low."""
    from freqbench.cli import main

    monkeypatch.setenv("FREQBENCH_MAX_IMAGE_PIXELS", "1000")
    monkeypatch.setenv("FREQBENCH_DATA_WORKERS", "0")
    monkeypatch.chdir(tmp_path)
    folder_of(tmp_path, {"ILSVRC2012_val_00000001.JPEG": Image.new("RGB", (300, 300))})
    code = main([
        "evaluate", "--model", "smallcnn", "--random-init", "--dataset", "imagenet-val",
        "--data-dir", str(tmp_path), "--metrics", "clean", "--out", str(tmp_path / "records"),
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert "ILSVRC2012_val_00000001.JPEG has 90000 pixels, more than the limit of 1000" in err
    assert "Traceback" not in err and not (tmp_path / "records").exists()  # nothing written


def test_only_regular_files_are_opened(tmp_path, monkeypatch):
    """A FIFO, a device and a folder under an image's name are named when the images are
    taken, and again if one appears later, when they are read; none is opened."""
    monkeypatch.setenv("FREQBENCH_DATA_WORKERS", "0")
    root = folder_of(tmp_path, {"a.png": Image.new("RGB", (8, 8))})
    folder = root / "val" / WNID
    os.mkfifo(folder / "b_fifo.JPEG")
    (folder / "c_device.JPEG").symlink_to("/dev/zero")
    (folder / "d_folder.JPEG").mkdir()
    (folder / "e_link.png").symlink_to(folder / "a.png")  # a link to an image is read
    data = load_dataset("imagenet-val", data_dir=root, preprocessing="Res224")
    assert [f.name for f in data.files][-1] == "e_link.png"
    assert torch.equal(data.take(4, 5).images, data.take(0, 1).images)
    with pytest.raises(UserError, match=r"b_fifo\.JPEG is a FIFO \(named pipe\), not an image"):
        data.first(len(data))
    labels = [0] * len(data)
    for k, what in ((1, "a FIFO"), (2, "a device"), (3, "a folder")):
        with deadline(20), pytest.raises(UserError, match=rf"{data.files[k].name} is {what}"):
            list(decoded_batches(data.files[k : k + 1], labels[:1], "Res224", 1))
