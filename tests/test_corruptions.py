"""Tests of the CIFAR-10-C corruptions (Hendrycks & Dietterich, ICLR 2019).

Each check is independent of the implementation: hand-computed formulas, the reference's own
loops ported literally, PIL / scipy / colorsys as oracles, and severity orderings measured on
real Fashion-MNIST images and on synthetic RGB images.
"""

from __future__ import annotations

import colorsys
import functools
import gzip
import io
import itertools
import math
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from freqbench.corruptions import (
    CORRUPTIONS,
    FAMILIES,
    FROST_SOURCE,
    SEVERITY_PARAMS,
    corrupt,
    corrupted_batches,
    photographs,
)
from freqbench.corruptions.blur import shuffle_pixels
from freqbench.corruptions.ops import make_rng, motion_blur
from freqbench.corruptions.textures import plasma_fractal
from freqbench.corruptions.weather import draw_frost_crops
from freqbench.errors import UnknownNameError, UserError

FMNIST_IMAGES = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
# Corruptions without randomness: the seed must not matter.
DETERMINISTIC = {
    "defocus_blur",
    "zoom_blur",
    "brightness",
    "contrast",
    "pixelate",
    "jpeg_compression",
}
# With the reference's parameters the mean absolute change grows at every severity step for
# these; the other four have plateaus or shrinking parts by design (tests further down).
MONOTONE = [
    n for n in CORRUPTIONS if n not in {"glass_blur", "motion_blur", "frost", "elastic_transform"}
]


def synthetic_rgb(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Smooth colour fields with one flat rectangle each: edges and gradients, like photos."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(
        rng.standard_normal((n, 3, size, size)), (0, 0, 2, 2), mode="wrap"
    )
    low = field.min(axis=(2, 3), keepdims=True)
    images = (field - low) / (field.max(axis=(2, 3), keepdims=True) - low)
    for image in images:
        (r, c), (h, w) = rng.integers(0, size // 2, 2), rng.integers(6, size // 2, 2)
        image[:, r : r + h, c : c + w] = rng.random((3, 1, 1))
    return torch.from_numpy(images.astype(np.float32))


@pytest.fixture(scope="module")
def fashion() -> torch.Tensor:
    """64 real Fashion-MNIST test images, read directly (16-byte IDX header, then uint8)."""
    if not FMNIST_IMAGES.is_file():
        pytest.skip(f"real Fashion-MNIST missing at {FMNIST_IMAGES} (apt dataset-fashion-mnist)")
    with gzip.open(FMNIST_IMAGES, "rb") as f:
        pixels = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)
    return torch.from_numpy(pixels[:64] / np.float32(255))


@pytest.fixture(scope="module")
def rgb() -> torch.Tensor:
    return synthetic_rgb(64, 32)


@pytest.fixture(params=["fashion", "rgb"])
def images(request: pytest.FixtureRequest) -> torch.Tensor:
    return request.getfixturevalue(request.param)


def mean_change(images: torch.Tensor, name: str, seed: int = 0) -> list[float]:
    return [float((corrupt(images, name, s, seed) - images).abs().mean()) for s in range(1, 6)]


# ---------------------------------------------------------------- catalogue


def test_catalogue_lists_the_15_cifar_corruptions_in_order() -> None:
    assert len(CORRUPTIONS) == 15
    assert CORRUPTIONS[:3] == ("gaussian_noise", "shot_noise", "impulse_noise")
    assert CORRUPTIONS[-1] == "jpeg_compression"
    assert sum(FAMILIES.values(), ()) == CORRUPTIONS
    assert list(FAMILIES) == ["noise", "blur", "weather", "digital"]
    assert tuple(SEVERITY_PARAMS) == CORRUPTIONS
    assert all(len(v) == 5 for v in SEVERITY_PARAMS.values())
    assert SEVERITY_PARAMS["gaussian_noise"] == (0.04, 0.06, 0.08, 0.09, 0.10)
    assert all(len(p) == 7 for p in SEVERITY_PARAMS["snow"])
    assert all(len(p) == 3 for p in SEVERITY_PARAMS["elastic_transform"])
    assert FROST_SOURCE == "hendrycks-photographs"


# ---------------------------------------------------------------- severity orderings


@pytest.mark.parametrize("name", MONOTONE)
def test_mean_change_grows_with_severity(images: torch.Tensor, name: str) -> None:
    change = mean_change(images, name)
    assert all(b > a for a, b in itertools.pairwise(change)), change


def test_motion_blur_grows_but_severities_3_and_4_share_a_kernel(images: torch.Tensor) -> None:
    # (radius 6, sigma 2) and (8, 2): taps 0..12 and 0..16, and taps past 12 weigh
    # exp(-13^2 / 8) < 1e-9: one kernel, only the random angles differ.
    m = mean_change(images, "motion_blur")
    assert m[0] < m[1] < m[2] and m[4] > max(m[2], m[3]), m
    assert abs(m[3] - m[2]) < 0.05 * m[2], m


def test_glass_blur_two_shuffling_passes_beat_one(images: torch.Tensor) -> None:
    # Severities 1-3 shuffle once, 4-5 twice; their blur sigmas (<= 0.4) barely matter.
    m = mean_change(images, "glass_blur")
    assert min(m[3:]) > 1.3 * max(m[:3]), m


def test_glass_shuffle_is_the_reference_loop() -> None:
    """The reference loop, ported literally, on HWC arrays (its tuple swap copies)."""
    rng = np.random.default_rng(1)
    for channels, size in ((3, 32), (1, 28)):
        image = rng.random((size, size, channels)).astype(np.float32)
        dy, dx = rng.integers(-1, 1, size=(2, 1, size - 2, size - 2))
        expected = image.copy()
        for h in range(size - 1, 1, -1):
            for w in range(size - 1, 1, -1):
                h2, w2 = h + dy[0, h - 2, w - 2], w + dx[0, h - 2, w - 2]
                expected[h, w], expected[h2, w2] = expected[h2, w2], expected[h, w]
        got = shuffle_pixels(image.transpose(2, 0, 1)[None].copy(), dy, dx, 1)
        np.testing.assert_array_equal(got[0].transpose(1, 2, 0), expected)


def test_frost_blends_the_image_with_a_scaled_photograph(images: torch.Tensor) -> None:
    black = torch.zeros_like(images)
    for severity, (image_weight, frost_weight) in enumerate(SEVERITY_PARAMS["frost"], 1):
        frost = corrupt(black, "frost", severity)  # frost_weight * photograph, never clipped
        expected = (image_weight * images + frost).clamp(0, 1)
        torch.testing.assert_close(corrupt(images, "frost", severity), expected)
        assert float(frost.max()) <= frost_weight + 1e-6
        assert float(frost.std()) > 0.05 * frost_weight


def test_frost_photographs_are_bluish_on_rgb() -> None:
    frost = corrupt(torch.zeros(4, 3, 32, 32), "frost", 5).mean(dim=(0, 2, 3))
    assert frost[2] > frost[1] > frost[0] > 0


# The reference's photographs in its order, and their sizes after cv2.resize(fx=fy=0.2),
# measured with OpenCV 5.0 (rows, columns).
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")
FROST_RESIZED = ((120, 180), (63, 112), (63, 112), (70, 105), (99, 132), (65, 97))


@functools.cache
def reference_frost_photo(index: int) -> np.ndarray:
    """The reference's ``cv2.resize(cv2.imread(filename), (0, 0), fx=0.2, fy=0.2)`` (BGR)."""
    cv2 = pytest.importorskip("cv2")
    frost = cv2.imread(str(photographs.DIRECTORY / FROST_FILES[index]))
    return cv2.resize(frost, (0, 0), fx=0.2, fy=0.2)


def reference_frost(x: np.ndarray, severity: int, randint: Callable[..., int]) -> np.ndarray:
    """make_cifar_c.py's frost on an HWC image in [0, 255], drawing with ``randint``.

    ``randint`` stands for the reference's ``np.random.randint``. For other sizes the crop is
    the image's size, and a 1-channel image gets the crop's luma (OpenCV's RGB2GRAY). It
    returns floats in [0, 255], before the reference's final uint8 cast.
    """
    cv2 = pytest.importorskip("cv2")
    c = [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)][severity - 1]
    h, w, channels = x.shape
    idx = randint(5)
    frost = reference_frost_photo(idx)
    x_start, y_start = randint(0, frost.shape[0] - h), randint(0, frost.shape[1] - w)
    frost = frost[x_start : x_start + h, y_start : y_start + w][..., [2, 1, 0]]
    if channels == 1:
        frost = cv2.cvtColor(frost.astype(np.float32), cv2.COLOR_RGB2GRAY)[..., None]
    return np.clip(c[0] * np.array(x) + c[1] * frost, 0, 255)


def replay(values: Iterable[int]) -> Callable[..., int]:
    """A stand-in for ``np.random.randint`` that returns ``values`` in turn."""
    values = iter(values)
    return lambda *_: int(next(values))


def test_frost_draws_follow_the_reference() -> None:
    """randint(5) (never frost6.jpg), then a corner uniform in [0, rows - h) x [0, cols - w)."""
    h, w = 32, 28
    crops = draw_frost_crops(np.random.default_rng(0), 20_000, h, w)
    assert set(crops.photo.tolist()) == {0, 1, 2, 3, 4}
    for index, (rows, cols) in enumerate(FROST_RESIZED[:5]):
        mine = crops.photo == index
        assert crops.top[mine].min() == 0 and crops.top[mine].max() == rows - h - 1
        assert crops.left[mine].min() == 0 and crops.left[mine].max() == cols - w - 1


def test_frost_photographs_decode_and_resize_as_opencv() -> None:
    """Pillow's RGB equals cv2.imread's BGR reversed; the 5 i + 2 slicing equals cv2.resize."""
    cv2 = pytest.importorskip("cv2")
    for name, size in zip(FROST_FILES, FROST_RESIZED, strict=True):
        bgr = cv2.imread(str(photographs.DIRECTORY / name))
        with Image.open(photographs.DIRECTORY / name) as image:
            rgb = np.asarray(image.convert("RGB"))
        np.testing.assert_array_equal(rgb, bgr[..., ::-1], err_msg=name)
        resized = cv2.resize(bgr, (0, 0), fx=0.2, fy=0.2)
        assert resized.shape[:2] == size
        np.testing.assert_array_equal(photographs.resize_like_reference(bgr), resized)


@pytest.mark.parametrize("kind", ["rgb", "fashion"])
@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_frost_is_the_reference_formula(
    kind: str, severity: int, request: pytest.FixtureRequest
) -> None:
    """The reference, transcribed with OpenCV, fed freqbench's photograph and crop draws."""
    images = request.getfixturevalue(kind)[:16]
    n, _, h, w = images.shape
    seed = 3
    crops = draw_frost_crops(make_rng(seed, "frost", severity), n, h, w)
    pixels = images.permute(0, 2, 3, 1).double().numpy() * 255
    expected = np.stack(
        [
            reference_frost(p, severity, replay(draw))
            for p, draw in zip(pixels, zip(*crops, strict=True), strict=True)
        ]
    )
    got = corrupt(images, "frost", severity, seed=seed).permute(0, 2, 3, 1).double().numpy()
    np.testing.assert_allclose(got * 255, expected, rtol=0, atol=1e-3)


def fashion_rgb32(n: int) -> torch.Tensor:
    """The first ``n`` real Fashion-MNIST test images, padded to 32x32 and repeated as RGB."""
    if not FMNIST_IMAGES.is_file():
        pytest.skip(f"real Fashion-MNIST missing at {FMNIST_IMAGES} (apt dataset-fashion-mnist)")
    with gzip.open(FMNIST_IMAGES, "rb") as f:
        pixels = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)
    padded = np.pad(pixels[:n], ((0, 0), (0, 0), (2, 2), (2, 2)))
    return torch.from_numpy(np.repeat(padded, 3, axis=1) / np.float32(255))


@pytest.mark.parametrize("kind", ["synthetic", "fashion"])
def test_frost_strength_matches_the_reference(kind: str) -> None:
    """Mean |corrupted - clean| within 10% of the literal reference's at every severity.

    The reference runs as written, on 32x32 RGB (its only size): its own random draws,
    uint8 in and out. The images are synthetic or real Fashion-MNIST ones made RGB.
    """
    images = synthetic_rgb(512, 32, seed=5) if kind == "synthetic" else fashion_rgb32(512)
    pixels = (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    clean = torch.from_numpy(pixels / np.float32(255)).permute(0, 3, 1, 2)
    randint = np.random.RandomState(0).randint  # the reference's np.random.randint
    for severity in range(1, 6):
        ours = float((corrupt(clean, "frost", severity) - clean).abs().mean()) * 255
        reference = np.mean(
            [
                np.abs(np.uint8(reference_frost(p, severity, randint)) - p.astype(float)).mean()
                for p in pixels
            ]
        )
        assert abs(ours / reference - 1) < 0.1, (severity, ours, reference)


def test_frost_refuses_images_it_cannot_crop() -> None:
    corrupt(torch.rand(1, 3, 62, 104), "frost", 1)  # the largest crop of frost2 and frost4
    with pytest.raises(UserError, match="at most 62x104"):
        corrupt(torch.rand(1, 3, 63, 32), "frost", 1)
    with pytest.raises(UserError, match="at most 62x104"):
        corrupted_batches(torch.rand(1, 1, 28, 105), torch.zeros(1), names=["fog", "frost"])


@pytest.mark.parametrize(("name", "damage"), [("frost3.png", "altered"), ("frost6.jpg", "missing")])
def test_frost_photograph_damage_is_a_user_error(
    name: str, damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for file in FROST_FILES:
        shutil.copy(photographs.DIRECTORY / file, tmp_path / file)
    if damage == "missing":
        (tmp_path / name).unlink()
    else:
        data = bytearray((tmp_path / name).read_bytes())
        data[-1] ^= 1
        (tmp_path / name).write_bytes(bytes(data))
    monkeypatch.setattr(photographs, "DIRECTORY", tmp_path)
    with pytest.raises(UserError, match=rf"frost photograph {name}\b.*{damage}"):
        corrupt(torch.rand(1, 3, 32, 32), "frost", 1)


def _plane_residual(images: torch.Tensor, margin: int) -> float:
    """RMS distance of each image's centre from its best-fitting plane, averaged."""
    centre = images[:, 0, margin:-margin, margin:-margin].double()
    rows, cols = torch.meshgrid(
        *(torch.arange(s, dtype=torch.float64) for s in centre.shape[1:]), indexing="ij"
    )
    design = torch.stack([rows.flatten(), cols.flatten(), torch.ones(rows.numel())], 1)
    target = centre.flatten(1).T
    fit = design @ torch.linalg.lstsq(design, target).solution
    return float((target - fit).pow(2).mean().sqrt())


def test_elastic_transform_affine_part_shrinks_elastic_part_grows() -> None:
    """Severity 1 is a pure affine warp; later severities add ever rougher displacements.

    A linear ramp stays a plane under an affine warp (bilinear sampling is exact on it), so
    the residual from the best plane measures the elastic part only. The reference's affine
    jitter shrinks from 2.56 to 0.96 pixels, so the total change falls with severity.
    """
    size = 32
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    ramp = 0.2 + 0.6 * (rows + 2 * cols) / (3 * (size - 1))
    images = torch.from_numpy(np.broadcast_to(ramp, (64, 1, size, size)).astype(np.float32))
    residual = [
        _plane_residual(corrupt(images, "elastic_transform", s), margin=8) for s in range(1, 6)
    ]
    assert residual[0] < 1e-5, residual
    assert all(b > 1.2 * a for a, b in itertools.pairwise(residual[1:])), residual
    change = mean_change(synthetic_rgb(64, 32), "elastic_transform")
    assert change[0] > change[4], change


# ---------------------------------------------------------------- contract


@pytest.mark.parametrize("name", CORRUPTIONS)
@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((3, 1, 28, 28), torch.float32),
        ((2, 3, 32, 32), torch.float64),
        ((2, 3, 33, 33), torch.float32),
    ],
)
def test_keeps_shape_dtype_and_range(name: str, shape: tuple[int, ...], dtype: torch.dtype) -> None:
    images = torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
    out = corrupt(images, name, 5)
    assert out.shape == images.shape and out.dtype == dtype and out.device == images.device
    assert bool(torch.isfinite(out).all()) and out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, images)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_seeded_and_per_image(name: str, rgb: torch.Tensor) -> None:
    images = rgb[:4]
    same = corrupt(images, name, 3, seed=7)
    torch.testing.assert_close(corrupt(images, name, 3, seed=7), same, rtol=0, atol=0)
    other = corrupt(images, name, 3, seed=8)
    assert torch.equal(other, same) == (name in DETERMINISTIC)
    if name not in DETERMINISTIC:  # identical images, different noise
        twins = corrupt(images[:1].expand(2, -1, -1, -1), name, 3)
        assert not torch.equal(twins[0], twins[1])


def test_input_is_left_alone(rgb: torch.Tensor) -> None:
    images = rgb[:4].clone()
    for name in CORRUPTIONS:
        corrupt(images, name, 5)
    torch.testing.assert_close(images, rgb[:4], rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_come_back_on_cuda(rgb: torch.Tensor) -> None:
    out = corrupt(rgb[:2].cuda(), "fog", 3)
    assert out.is_cuda


# ---------------------------------------------------------------- hand-computed values


def test_gaussian_noise_sigma() -> None:
    gray = torch.full((16, 3, 32, 32), 0.5)
    for severity, sigma in enumerate(SEVERITY_PARAMS["gaussian_noise"], 1):
        out = corrupt(gray, "gaussian_noise", severity)
        assert abs(float(out.std()) - sigma) < 0.02 * sigma
        assert abs(float(out.mean()) - 0.5) < 0.002


def test_shot_noise_is_poisson() -> None:
    gray = torch.full((16, 3, 32, 32), 0.5)
    for severity, photons in enumerate(SEVERITY_PARAMS["shot_noise"], 1):
        out = corrupt(gray, "shot_noise", severity).double()
        counts = out * photons
        torch.testing.assert_close(counts, counts.round(), rtol=0, atol=1e-3)
        assert abs(float(out.var()) - 0.5 / photons) < 0.05 * 0.5 / photons


def test_impulse_amount() -> None:
    gray = torch.full((32, 3, 32, 32), 0.5)
    for severity, amount in enumerate(SEVERITY_PARAMS["impulse_noise"], 1):
        out = corrupt(gray, "impulse_noise", severity)
        salt, pepper = float((out == 1).float().mean()), float((out == 0).float().mean())
        assert abs(salt + pepper - amount) < 0.1 * amount
        assert abs(salt - pepper) < 0.2 * amount
        assert bool(((out == 0) | (out == 1) | (out == 0.5)).all())


def test_contrast_by_hand(images: torch.Tensor) -> None:
    for severity, factor in enumerate(SEVERITY_PARAMS["contrast"], 1):
        means = images.mean(dim=(2, 3), keepdim=True)
        expected = ((images - means) * factor + means).clamp(0, 1)
        torch.testing.assert_close(corrupt(images, "contrast", severity), expected)


def test_brightness_by_hand() -> None:
    levels = torch.tensor([0.0, 0.3, 0.8, 0.95, 1.0])
    gray = levels.repeat(28 * 28 // 5 + 1)[: 28 * 28].reshape(1, 1, 28, 28)
    for severity, shift in enumerate(SEVERITY_PARAMS["brightness"], 1):
        expected = (gray + shift).clamp(max=1)  # the HSV value of a gray pixel is its level
        torch.testing.assert_close(corrupt(gray, "brightness", severity), expected)
        as_rgb = corrupt(gray.expand(1, 3, 28, 28), "brightness", severity)
        torch.testing.assert_close(as_rgb, expected.expand(1, 3, 28, 28))


def test_brightness_matches_colorsys(rgb: torch.Tensor) -> None:
    image = rgb[:1]
    out = corrupt(image, "brightness", 5)[0]
    for r, c in ((0, 0), (5, 17), (31, 31), (12, 3)):
        h, s, v = colorsys.rgb_to_hsv(*image[0, :, r, c].tolist())
        expected = colorsys.hsv_to_rgb(h, s, min(v + 0.3, 1.0))
        torch.testing.assert_close(out[:, r, c], torch.tensor(expected, dtype=torch.float32))


@pytest.mark.parametrize("size", [28, 33])
def test_pixelate_matches_pil(size: int) -> None:
    images = synthetic_rgb(2, size)
    for severity, factor in enumerate(SEVERITY_PARAMS["pixelate"], 1):
        small = (int(size * factor),) * 2
        expected = [
            np.asarray(
                Image.fromarray(channel.numpy(), mode="F")
                .resize(small, Image.BOX)
                .resize((size, size), Image.BOX)
            )
            for channel in images.reshape(-1, size, size)
        ]
        expected = torch.from_numpy(np.stack(expected)).reshape(images.shape)
        torch.testing.assert_close(corrupt(images, "pixelate", severity), expected)


def test_jpeg_gray_is_pil_mode_l(fashion: torch.Tensor) -> None:
    out = corrupt(fashion[:3], "jpeg_compression", 5)
    for image, got in zip(fashion[:3], out, strict=True):
        buffer = io.BytesIO()
        pixels = (image[0].numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=40)
        expected = np.asarray(Image.open(buffer).convert("L")) / np.float32(255)
        torch.testing.assert_close(got[0], torch.from_numpy(expected))


def test_zoom_blur_matches_scipy_zoom(rgb: torch.Tensor) -> None:
    """The reference: mean of the image and its clipped_zoom by each np.arange(1, c, 0.01)."""
    image = rgb[0].permute(1, 2, 0).numpy()
    size = image.shape[0]
    for severity, max_zoom in enumerate(SEVERITY_PARAMS["zoom_blur"], 1):
        total = image.copy()
        zooms = np.arange(1, max_zoom, 0.01)
        for z in zooms:
            crop = int(np.ceil(size / z))
            top = (size - crop) // 2
            big = ndimage.zoom(image[top : top + crop, top : top + crop], (z, z, 1), order=1)
            trim = (big.shape[0] - size) // 2
            total += big[trim : trim + size, trim : trim + size]
        expected = torch.from_numpy(total / (len(zooms) + 1)).permute(2, 0, 1)
        got = corrupt(rgb[:1], "zoom_blur", severity)[0]
        torch.testing.assert_close(got, expected.float().clamp(0, 1), atol=1e-5, rtol=0)


def test_defocus_matches_a_disk_convolution(fashion: torch.Tensor) -> None:
    grid = np.arange(-8, 9)
    for severity, (radius, alias) in enumerate(SEVERITY_PARAMS["defocus_blur"], 1):
        disk = (grid[:, None] ** 2 + grid[None, :] ** 2 <= radius**2).astype(np.float64)
        g = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * alias**2))
        kernel = ndimage.convolve(disk / disk.sum(), np.outer(g, g) / g.sum() ** 2)
        expected = ndimage.correlate(fashion[:4, 0].double().numpy(), kernel[None], mode="mirror")
        got = corrupt(fashion[:4], "defocus_blur", severity)[:, 0]
        torch.testing.assert_close(
            got.double(), torch.from_numpy(expected).clamp(0, 1), atol=1e-6, rtol=0
        )


def test_motion_blur_is_imagemagick_kernel() -> None:
    """Per tap i < 2 ceil(radius) + 1: weight exp(-i^2 / 2 sigma^2), offset ceil(i (cos, sin) - .5)."""
    rng = np.random.default_rng(0)
    image = rng.random((1, 28, 28)).astype(np.float32)
    for angle in (-45.0, -12.3, 0.0, 30.0, -100.0):
        width = 2 * 6 + 1
        weights = np.exp(-(np.arange(width) ** 2) / 8.0)
        expected = np.zeros_like(image)
        for i, weight in enumerate(weights / weights.sum()):
            ox = math.ceil(i * math.cos(math.radians(angle)) - 0.5)
            oy = math.ceil(i * math.sin(math.radians(angle)) - 0.5)
            rows = np.clip(np.arange(28) + oy, 0, 27)
            cols = np.clip(np.arange(28) + ox, 0, 27)
            expected += weight * image[:, rows][:, :, cols]
        got = motion_blur(image[None], 6, 2.0, np.array([angle]))[0]
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_plasma_fractal_is_the_reference_diamond_square() -> None:
    """The reference's plasma_fractal, ported literally, with the same uniform stream."""
    mapsize, decay = 32, 2.5
    uniform = np.random.default_rng(3).uniform
    expected = np.empty((mapsize, mapsize))
    expected[0, 0] = 0
    step, wibble = mapsize, 100.0
    while step >= 2:
        half = step // 2
        corner = expected[0::step, 0::step]
        square = corner + np.roll(corner, -1, axis=0)
        square += np.roll(square, -1, axis=1)
        expected[half::step, half::step] = square / 4 + wibble * uniform(
            -wibble, wibble, square.shape
        )
        centre, corner = expected[half::step, half::step], expected[0::step, 0::step]
        total = centre + np.roll(centre, 1, axis=0) + corner + np.roll(corner, -1, axis=1)
        expected[0::step, half::step] = total / 4 + wibble * uniform(-wibble, wibble, total.shape)
        total = centre + np.roll(centre, 1, axis=1) + corner + np.roll(corner, -1, axis=0)
        expected[half::step, 0::step] = total / 4 + wibble * uniform(-wibble, wibble, total.shape)
        step //= 2
        wibble /= decay
    expected -= expected.min()
    expected /= expected.max()
    got = plasma_fractal(np.random.default_rng(3), 1, mapsize, decay)[0]
    np.testing.assert_allclose(got, expected, atol=1e-12)


# ---------------------------------------------------------------- batches


def test_corrupted_batches_chunks(rgb: torch.Tensor) -> None:
    labels = torch.arange(len(rgb))
    batches = list(
        corrupted_batches(
            rgb[:10], labels[:10], names=["fog", "contrast"], severities=[2], chunk_size=4
        )
    )
    assert [(b.name, b.severity, len(b.images)) for b in batches] == [
        ("fog", 2, 4),
        ("fog", 2, 4),
        ("fog", 2, 2),
        ("contrast", 2, 4),
        ("contrast", 2, 4),
        ("contrast", 2, 2),
    ]
    torch.testing.assert_close(torch.cat([b.labels for b in batches[:3]]), labels[:10])
    torch.testing.assert_close(batches[0].images, corrupt(rgb[:4], "fog", 2), rtol=0, atol=0)
    assert not torch.equal(batches[0].images, corrupt(rgb[4:8], "fog", 2))
    again = list(
        corrupted_batches(rgb[:10], labels[:10], names=["fog"], severities=[2], chunk_size=4)
    )
    assert all(torch.equal(a.images, b.images) for a, b in zip(again, batches, strict=False))


def test_corrupted_batches_checks_arguments_at_once(rgb: torch.Tensor) -> None:
    labels = torch.arange(len(rgb))
    with pytest.raises(UnknownNameError):
        corrupted_batches(rgb, labels, names=["fogg"])
    with pytest.raises(UserError, match="severity"):
        corrupted_batches(rgb, labels, severities=[6])
    with pytest.raises(UserError, match="labels"):
        corrupted_batches(rgb, labels[:3])
    with pytest.raises(UserError, match="chunk_size"):
        corrupted_batches(rgb, labels, chunk_size=0)


# ---------------------------------------------------------------- errors


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(UnknownNameError, match="gaussian_noise"):
        corrupt(torch.rand(1, 3, 32, 32), "gaussian_nosie", 1)


@pytest.mark.parametrize(
    ("images", "severity", "seed", "word"),
    [
        (torch.rand(1, 3, 32, 32), 0, 0, "severity"),
        (torch.rand(1, 3, 32, 32), 6, 0, "severity"),
        (torch.rand(1, 3, 32, 32), 2.0, 0, "severity"),
        (torch.rand(1, 3, 32, 32), True, 0, "severity"),
        (torch.rand(1, 3, 32, 32), 1, -1, "seed"),
        (torch.rand(3, 32, 32), 1, 0, "4-D"),
        ((torch.rand(1, 3, 32, 32) * 255).to(torch.uint8), 1, 0, "float"),
        (torch.rand(1, 3, 32, 32) + 1, 1, 0, r"\[0, 1\]"),
        (torch.full((1, 3, 32, 32), float("nan")), 1, 0, "NaN"),
        (torch.rand(1, 2, 32, 32), 1, 0, "channels"),
        (torch.rand(1, 3, 27, 32), 1, 0, "at least 28"),
        (np.random.rand(1, 3, 32, 32), 1, 0, "torch.Tensor"),
    ],
)
def test_bad_input_is_a_user_error(images: object, severity: object, seed: int, word: str) -> None:
    with pytest.raises(UserError, match=word):
        corrupt(images, "gaussian_noise", severity, seed=seed)  # type: ignore[arg-type]
