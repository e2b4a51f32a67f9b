"""Tests of freqbench.spectral and freqbench.plots.spectrum.

Every function is checked against a plain numpy reference written here (np.fft.fft2 and
fftshift per image and channel, explicit loops over images and rings), on random images and
on real Fashion-MNIST images (zero-padded to 32 and 33, channels taken from consecutive
images), for sizes 28, 32, 33 and 1 or 3 channels. The module works in float32 on the same
pixel values the float64 references see.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import torch
from torch import nn

from freqbench.errors import UserError
from freqbench.plots.spectrum import (
    fit_power_law,
    plot_bass,
    plot_frequency_splits,
    plot_radial_spectrum,
)
from freqbench.spectral import (
    BaSS,
    bass,
    energy_radius,
    fourier_basis,
    fourier_basis_batch,
    half_plane_indices,
    mirror_indices,
    radial_profile,
    scaled_radii,
    smooth_kernels,
    spectral_entropy,
    split_frequency,
    split_long_tail,
)

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
N_IMAGES = 3
SIZES = (28, 32, 33)
CHANNELS = (1, 3)


# ----------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def fashion_mnist() -> np.ndarray:
    """The 10,000 Fashion-MNIST test images as float64 in [0, 1], (N, 28, 28)."""
    if not FASHION_MNIST.exists():
        pytest.skip(f"{FASHION_MNIST} missing: install the apt package dataset-fashion-mnist")
    with gzip.open(FASHION_MNIST, "rb") as f:
        raw = f.read()
    count, rows, cols = (int.from_bytes(raw[i : i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, rows, cols) / 255.0


def _pad_to(images: np.ndarray, size: int) -> np.ndarray:
    extra = size - images.shape[-1]
    before = extra // 2
    return np.pad(images, ((0, 0), (before, extra - before), (before, extra - before)))


@pytest.fixture(
    params=[(s, sz, c) for s in ("random", "real") for sz in SIZES for c in CHANNELS],
    ids=lambda p: f"{p[0]}-{p[1]}x{p[1]}x{p[2]}",
)
def batch(request: pytest.FixtureRequest) -> tuple[np.ndarray, torch.Tensor]:
    """(float64 numpy, float32 torch) copies of the same N x C x S x S images."""
    source, size, channels = request.param
    if source == "random":
        rng = np.random.default_rng(size * 10 + channels)
        images = rng.random((N_IMAGES, channels, size, size))
    else:
        real = request.getfixturevalue("fashion_mnist")
        images = _pad_to(real[: N_IMAGES * channels], size).reshape(N_IMAGES, channels, size, size)
    x = torch.tensor(images, dtype=torch.float32)
    return x.double().numpy(), x


# ----------------------------------------------------------------------------- references


def ref_geometry(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.meshgrid(np.arange(h) - h // 2, np.arange(w) - w // 2, indexing="ij")
    dist = np.sqrt(rows**2 + cols**2)
    return dist, np.floor(dist).astype(int)


def ref_spectrum(channel: np.ndarray) -> np.ndarray:
    return np.fft.fftshift(np.fft.fft2(channel))


def ref_inverse(spectrum: np.ndarray) -> np.ndarray:
    return np.fft.ifft2(np.fft.ifftshift(spectrum)).real


def ref_radial_profile(x: np.ndarray, kind: str = "power") -> np.ndarray:
    n, c, h, w = x.shape
    _, ring = ref_geometry(h, w)
    out = np.zeros((n, c, ring.max() + 1))
    for i in range(n):
        for ch in range(c):
            amplitude = np.abs(ref_spectrum(x[i, ch]))
            values = amplitude**2 if kind == "power" else amplitude
            for k in range(ring.max() + 1):
                out[i, ch, k] = values[ring == k].mean()
    return out


def ref_masked_split(x: np.ndarray, masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per image i: (inverse of F * masks[i], inverse of F * ~masks[i]) per channel."""
    inside, outside = np.zeros_like(x), np.zeros_like(x)
    for i in range(x.shape[0]):
        for ch in range(x.shape[1]):
            spectrum = ref_spectrum(x[i, ch])
            inside[i, ch] = ref_inverse(spectrum * masks[i])
            outside[i, ch] = ref_inverse(spectrum * ~masks[i])
    return inside, outside


def ref_split(x: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    dist, _ = ref_geometry(*x.shape[-2:])
    return ref_masked_split(x, [dist < radius] * x.shape[0])


def ref_energy_radius(x: np.ndarray, q: float) -> np.ndarray:
    _, ring = ref_geometry(*x.shape[-2:])
    radii = []
    for image in x:
        power = sum(np.abs(ref_spectrum(channel)) ** 2 for channel in image)
        ring_power = [power[ring == k].sum() for k in range(ring.max() + 1)]
        total, cumulative = sum(ring_power[1:]), 0.0
        for radius in range(1, ring.max() + 1):
            cumulative += ring_power[radius]
            if cumulative >= q * total:
                break
        radii.append(radius)
    return np.array(radii)


def ref_split_long_tail(x: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    _, ring = ref_geometry(*x.shape[-2:])
    return ref_masked_split(x, [ring <= r for r in ref_energy_radius(x, q)])


def ref_entropy(profile: np.ndarray) -> float:
    rings = profile[1:] / profile[1:].sum()
    return -sum(p * math.log(p) for p in rings if p > 0) / math.log(len(profile) - 1)


def ref_bass(x: np.ndarray, clip: bool = True) -> np.ndarray:
    _, ring = ref_geometry(*x.shape[-2:])
    top = ring.max()
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        for ch in range(x.shape[1]):
            spectrum = ref_spectrum(255.0 * x[i, ch])
            amplitude = np.abs(spectrum)
            mean = np.array([amplitude[ring == k].mean() for k in range(1, top)])
            assert (mean > 1).all(), "reference assumes the paper's case ln P > 0"
            p_old = mean / mean.sum()
            p_new = np.log(mean) / np.log(mean).sum()
            for k in range(1, top):
                spectrum[ring == k] *= p_new[k - 1] / p_old[k - 1]
            restored = ref_inverse(spectrum) / 255.0
            out[i, ch] = np.clip(restored, 0, 1) if clip else restored
    return out


# ----------------------------------------------------------------------------- against references


@pytest.mark.parametrize("kind", ["power", "amplitude"])
def test_radial_profile_matches_reference(batch, kind):
    x_np, x = batch
    got = radial_profile(x, kind).double().numpy()
    ref = ref_radial_profile(x_np, kind)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6 * ref.max())


def test_split_frequency_matches_reference(batch):
    x_np, x = batch
    for radius in [*scaled_radii(x.shape[-1]), 5.5]:
        low, high = split_frequency(x, radius)
        ref_low, ref_high = ref_split(x_np, radius)
        np.testing.assert_allclose(low.double().numpy(), ref_low, atol=2e-6)
        np.testing.assert_allclose(high.double().numpy(), ref_high, atol=2e-6)


@pytest.mark.parametrize("q", [0.5, 0.8])
def test_energy_radius_matches_reference(batch, q):
    x_np, x = batch
    got = energy_radius(x, q)
    assert got.dtype == torch.int64 and got.shape == (N_IMAGES,)
    np.testing.assert_array_equal(got.numpy(), ref_energy_radius(x_np, q))


def test_split_long_tail_matches_reference(batch):
    x_np, x = batch
    head, tail = split_long_tail(x, 0.8)
    ref_head, ref_tail = ref_split_long_tail(x_np, 0.8)
    np.testing.assert_allclose(head.double().numpy(), ref_head, atol=2e-6)
    np.testing.assert_allclose(tail.double().numpy(), ref_tail, atol=2e-6)
    np.testing.assert_allclose((head + tail).numpy(), x.numpy(), atol=2e-6)


def test_spectral_entropy_matches_reference(batch):
    x_np, _ = batch
    profiles = ref_radial_profile(x_np, "power")
    got = spectral_entropy(torch.tensor(profiles)).numpy()
    ref = np.array([[ref_entropy(p) for p in image] for image in profiles])
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    assert ((got > 0) & (got < 1)).all()


@pytest.mark.parametrize("clip", [True, False])
def test_bass_matches_reference(batch, clip):
    x_np, x = batch
    np.testing.assert_allclose(bass(x, clip=clip).double().numpy(), ref_bass(x_np, clip), atol=1e-5)


def test_fourier_basis_matches_reference():
    for h, w in [(28, 28), (32, 32), (33, 33), (6, 9)]:
        picks = [(h // 2, w // 2), (0, 0), (h // 2, 0), (1, w - 1), (h // 2 + 2, w // 2 - 3)]
        for i, j in picks:
            spectrum = np.zeros((h, w))
            spectrum[i, j] = 1
            spectrum[(2 * (h // 2) - i) % h, (2 * (w // 2) - j) % w] = 1
            ref = np.fft.ifft2(np.fft.ifftshift(spectrum)).real
            ref /= np.linalg.norm(ref)
            got = fourier_basis(h, w, i, j, dtype=torch.float64).numpy()
            np.testing.assert_allclose(got, ref, atol=1e-12)
            assert np.isclose(np.linalg.norm(got), 1.0)
            support = np.abs(np.fft.fftshift(np.fft.fft2(got))) > 1e-9
            assert support.sum() in (1, 2) and support[i, j]


def test_half_plane_indices_cover_each_mirror_pair_once():
    for h, w in [(28, 28), (32, 32), (33, 33), (6, 9)]:
        half = half_plane_indices(h, w)
        mirror = mirror_indices(h, w, half)
        covered = np.zeros((h, w), dtype=int)
        for (i, j), (mi, mj) in zip(half.tolist(), mirror.tolist(), strict=True):
            covered[i, j] += 1
            if (mi, mj) != (i, j):
                covered[mi, mj] += 1
        np.testing.assert_array_equal(covered, 1)
        batch = fourier_basis_batch(h, w, half[:7])
        single = torch.stack([fourier_basis(h, w, i, j) for i, j in half[:7].tolist()])
        torch.testing.assert_close(batch, single)


def test_scaled_radii():
    assert scaled_radii(32) == [4, 8, 12, 16]
    assert scaled_radii(28) == [4, 7, 11, 14]  # 3.5 and 10.5 round half up
    assert scaled_radii(64) == [8, 16, 24, 32]
    assert scaled_radii(33) == [4, 8, 12, 17]


# ----------------------------------------------------------------------------- properties


def test_split_properties():
    x = torch.rand(4, 3, 33, 32, generator=torch.Generator().manual_seed(1))
    low, high = split_frequency(x, 7.3)
    torch.testing.assert_close(low + high, x, atol=1e-6, rtol=0)
    low, high = split_frequency(x, 0)
    assert low.abs().max() == 0
    torch.testing.assert_close(high, x, atol=1e-6, rtol=0)
    low, high = split_frequency(x, math.hypot(17, 16) + 0.01)  # beyond the corner
    assert high.abs().max() == 0
    torch.testing.assert_close(low, x, atol=1e-6, rtol=0)


def test_radial_profile_parseval():
    x = torch.rand(2, 3, 33, 28, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    _, ring = ref_geometry(33, 28)
    counts = np.bincount(ring.ravel())
    energy = (radial_profile(x).numpy() * counts).sum(-1)
    full = np.array([[np.sum(np.abs(np.fft.fft2(ch)) ** 2) for ch in im] for im in x.numpy()])
    np.testing.assert_allclose(energy, full, rtol=1e-12)
    np.testing.assert_allclose(energy, 33 * 28 * (x**2).sum((-2, -1)).numpy(), rtol=1e-12)


def test_energy_radius_constant_image_and_dtypes():
    x = torch.full((2, 3, 16, 16), 0.5)
    assert energy_radius(x).tolist() == [1, 1]
    head, tail = split_long_tail(x.double())
    assert head.dtype == torch.float64 and tail.abs().max() < 1e-12


def test_spectral_entropy_limits():
    flat = torch.tensor([5.0, 1, 1, 1, 1])
    peaked = torch.tensor([5.0, 0, 3, 0, 0])
    empty = torch.tensor([5.0, 0, 0, 0])
    got = spectral_entropy(torch.stack([flat, peaked]))
    torch.testing.assert_close(got, torch.tensor([1.0, 0.0]))
    assert spectral_entropy(empty).item() == 0.0


def test_bass_keeps_dc_and_outer_ring_and_range():
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    unclipped = bass(x, clip=False)
    _, ring = ref_geometry(32, 32)
    keep = ring == ring.max()
    for image, out in zip(x.numpy(), unclipped.numpy(), strict=True):
        for channel, balanced in zip(image, out, strict=True):
            before, after = ref_spectrum(channel), ref_spectrum(balanced)
            assert np.isclose(after[16, 16], before[16, 16], rtol=1e-12)  # DC term
            np.testing.assert_allclose(after[keep], before[keep], atol=1e-9)  # ring M
    clipped = bass(x)
    assert clipped.min() >= 0 and clipped.max() <= 1


def test_bass_guard_constant_and_faint_images():
    constant = torch.full((2, 3, 28, 28), 0.3)
    torch.testing.assert_close(bass(constant), constant)
    # One strong ring (2) and faint noise: rings with P <= 1 (0-255 scale) must get weight 0
    # and ring 2 the weight sum(P) / P(2), the formula with ln P taken as 0 where P <= 1.
    rng = np.random.default_rng(4)
    wave = np.cos(2 * np.pi * 2 * np.arange(32) / 32)[:, None] * np.ones(32)
    faint = 0.5 + 0.1 * wave + 2e-5 * rng.random((32, 32))
    _, ring = ref_geometry(32, 32)
    spectrum = ref_spectrum(255 * faint)
    mean = np.array([np.abs(spectrum)[ring == k].mean() for k in range(1, ring.max())])
    assert (mean <= 1).sum() == mean.size - 1 and mean[1] > 1  # the guard is exercised
    expected = spectrum.copy()
    for k in range(1, ring.max()):
        expected[ring == k] *= mean.sum() / mean[1] if k == 2 else 0.0
    out = bass(torch.tensor(faint)[None, None], clip=False)
    assert torch.isfinite(out).all()
    np.testing.assert_allclose(out[0, 0].numpy(), ref_inverse(expected) / 255, atol=1e-12)


def test_bass_flattens_real_spectra(fashion_mnist):
    images = fashion_mnist[:16, None]
    x = torch.tensor(images, dtype=torch.float32)
    before = ref_radial_profile(images, "amplitude")
    after = ref_radial_profile(bass(x).double().numpy(), "amplitude")
    top = before.shape[-1] - 1
    ratio_before = before[..., 1] / before[..., top - 1]
    ratio_after = after[..., 1] / after[..., top - 1]
    assert (ratio_after < ratio_before).all()
    assert np.median(ratio_after) < np.median(ratio_before) / 5


def test_bass_module_probability_and_determinism():
    x = torch.rand(400, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    balanced = bass(x)
    out = BaSS(0.3, generator=torch.Generator().manual_seed(6))(x)
    changed = (out - x).flatten(1).abs().amax(1) > 0
    assert 0.3 * 400 - 40 <= changed.sum() <= 0.3 * 400 + 40
    torch.testing.assert_close(out[changed], balanced[changed], atol=1e-6, rtol=0)
    again = BaSS(0.3, generator=torch.Generator().manual_seed(6))(x)
    assert torch.equal(out, again)
    assert torch.equal(BaSS(0.0)(x), x)
    torch.testing.assert_close(BaSS(1.0)(x), balanced, atol=1e-6, rtol=0)
    single = BaSS(1.0)(x[0])
    assert single.shape == x[0].shape
    torch.testing.assert_close(single, balanced[0], atol=1e-6, rtol=0)
    assert "p=0.3" in repr(BaSS(0.3))


def test_dtype_and_device_are_kept():
    x = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(7)).half()
    low, high = split_frequency(x, 3)
    assert low.dtype == high.dtype == bass(x).dtype == torch.float16
    assert radial_profile(x).dtype == torch.float32
    if torch.cuda.is_available():
        xc = x.float().cuda()
        assert bass(xc).device == xc.device
        torch.testing.assert_close(bass(xc).cpu(), bass(x.float()), atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- power law, plots


def test_fashion_mnist_power_law(fashion_mnist, tmp_path):
    x = torch.tensor(fashion_mnist[:, None], dtype=torch.float32)
    result = plot_radial_spectrum(x, tmp_path / "spectrum.png")
    power = np.abs(np.fft.fftshift(np.fft.fft2(fashion_mnist), axes=(-2, -1))) ** 2
    _, ring = ref_geometry(28, 28)
    mean_power = np.array([power[:, ring == k].mean() for k in range(ring.max() + 1)])
    rings = np.arange(1, 15)
    ref_slope = -np.polyfit(np.log(rings), np.log(mean_power[rings]), 1)[0]
    ring_power = np.stack([power[:, ring == k].sum(-1) for k in range(1, ring.max() + 1)], 1)
    cumulative = np.cumsum(ring_power, axis=1)
    ref_r80 = np.mean(1 + np.argmax(cumulative >= 0.8 * cumulative[:, -1:], axis=1))
    print(
        f"\nFashion-MNIST t10k: power-law slope {result['slope']:.3f} (rings 1..14), "
        f"mean R80 {result['mean_r80']:.3f}"
    )
    assert result["slope"] == pytest.approx(ref_slope, rel=1e-4)
    assert 1 <= result["slope"] <= 4
    assert result["mean_r80"] == pytest.approx(ref_r80, abs=1e-9)
    assert (tmp_path / "spectrum.png").read_bytes()[:4] == b"\x89PNG"


def test_fit_power_law_exact():
    radii = np.arange(1, 20, dtype=float)
    profile = np.concatenate([[1e6], 3.0 * radii**-2.5])
    slope, intercept = fit_power_law(profile, 10)
    assert slope == pytest.approx(2.5) and intercept == pytest.approx(math.log(3.0))
    with pytest.raises(UserError, match="max_ring"):
        fit_power_law(profile, 40)


def test_split_and_bass_plots_are_written(tmp_path):
    image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(8))
    splits = plot_frequency_splits(image, scaled_radii(32), tmp_path / "splits.png")
    balanced = plot_bass(image[:1], tmp_path / "sub" / "bass.png")
    for path in (splits, balanced):
        assert path.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["bass.png", "splits.png"]


# ----------------------------------------------------------------------------- smooth_kernels


def _model() -> nn.Module:
    torch.manual_seed(9)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.ReLU(),
        nn.Sequential(nn.Conv2d(4, 5, 5), nn.Conv2d(5, 2, 1)),
    )


def _ref_smooth(weight: torch.Tensor, rho: float) -> np.ndarray:
    filt = np.array([[rho, rho, rho], [rho, 1, rho], [rho, rho, rho]])
    w = weight.detach().double().numpy()
    out = np.empty_like(w)
    for o in range(w.shape[0]):
        for i in range(w.shape[1]):
            out[o, i] = scipy.signal.convolve2d(w[o, i], filt, boundary="symm", mode="same")
    return out


def test_smooth_kernels_rho_zero_is_identity():
    model = _model()
    smoothed = smooth_kernels(model, 0.0, "all")
    for a, b in zip(model.parameters(), smoothed.parameters(), strict=True):
        assert torch.equal(a, b)


def test_smooth_kernels_first_layer_matches_scipy():
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    smoothed = smooth_kernels(model, 0.25)
    after = smoothed.state_dict()
    np.testing.assert_allclose(
        after["0.weight"].double().numpy(),
        _ref_smooth(before["0.weight"], 0.25),
        rtol=1e-6,
        atol=1e-7,
    )
    for key, value in before.items():
        assert torch.equal(model.state_dict()[key], value)  # original untouched
        if key != "0.weight":
            assert torch.equal(after[key], value)  # only the first conv changes


@pytest.mark.parametrize("layers", ["all", ["2.0", "2.1"]])
def test_smooth_kernels_layer_choice_matches_scipy(layers):
    model = _model()
    smoothed = smooth_kernels(model, 0.5, layers)
    names = ["0", "2.0", "2.1"] if layers == "all" else layers
    for name in ("0", "2.0", "2.1"):
        original = model.get_submodule(name).weight
        got = smoothed.get_submodule(name).weight
        if name in names:
            ref = _ref_smooth(original, 0.5)
            np.testing.assert_allclose(got.detach().double().numpy(), ref, rtol=1e-6, atol=1e-7)
        else:
            assert torch.equal(got, original)


# ----------------------------------------------------------------------------- bad input


GOOD = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(10))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: radial_profile((GOOD * 255).to(torch.uint8)), "x.float"),
        (lambda: radial_profile(GOOD[0]), "unsqueeze"),
        (lambda: bass(GOOD[0, 0]), "NCHW"),
        (lambda: split_frequency(GOOD * 255, 3), r"\[0, 1\]"),
        (lambda: split_frequency(GOOD - 0.01, 3), r"\[0, 1\]"),
        (lambda: bass(GOOD * float("nan")), "NaN"),
        (lambda: radial_profile(GOOD.numpy()), "torch.Tensor"),
        (lambda: radial_profile(GOOD, "phase"), "kind"),
        (lambda: split_frequency(GOOD, -1.0), "radius"),
        (lambda: energy_radius(GOOD, 0.0), "q must"),
        (lambda: split_long_tail(GOOD, 1.0), "q must"),
        (lambda: energy_radius(GOOD, 80), "q must"),
        (lambda: spectral_entropy(torch.ones(2, 2)), "at least 3 rings"),
        (lambda: spectral_entropy(-torch.ones(5)), ">= 0"),
        (lambda: scaled_radii(0), "positive integer"),
        (lambda: fourier_basis(8, 8, 8, 0), "indices"),
        (lambda: BaSS(1.5), "probability"),
        (lambda: BaSS(0.5)(GOOD[0, 0]), "CHW"),
        (lambda: smooth_kernels(_model(), -0.1), "rho"),
        (lambda: smooth_kernels(_model(), 0.1, ["2.O"]), r"Did you mean:.*2\.0"),
        (lambda: smooth_kernels(_model(), 0.1, ["1"]), "not an nn.Conv2d"),
        (lambda: smooth_kernels(_model(), 0.1, "first-only"), "'first', 'all'"),
        (lambda: smooth_kernels(nn.Linear(2, 2), 0.1), "no nn.Conv2d"),
    ],
)
def test_bad_input_raises_user_error(call, match):
    with pytest.raises(UserError, match=match) as info:
        call()
    assert isinstance(info.value, ValueError)
