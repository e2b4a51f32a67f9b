"""The frequency metrics against hand computations: band split, heat-map symmetry, gradient
spectrum, long-tail split."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from freqbench.data import make_synthetic
from freqbench.errors import UserError
from freqbench.metrics import get_metric
from freqbench.sensitivity import input_gradients


class Linear(nn.Module):
    def __init__(self, channels: int, size: int, classes: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(classes, channels * size * size, generator=g) * 0.05)
        self.bias = nn.Parameter(torch.zeros(classes))

    def forward(self, x):
        return x.flatten(1) @ self.weight.T + self.bias


def _nearest_mean_model(data) -> Linear:
    """A linear model that works: class means as weights (so clean accuracy is high)."""
    model = Linear(data.images.shape[1], data.images.shape[2], data.info.num_classes)
    with torch.no_grad():
        for c in range(data.info.num_classes):
            mean = data.images[data.labels == c].mean(0).flatten()
            model.weight[c] = mean
            model.bias[c] = -0.5 * mean.dot(mean)
    return model.eval()


@pytest.fixture(scope="module")
def setup():
    train = make_synthetic(300, size=28, channels=1, num_classes=4, split="train")
    test = make_synthetic(60, size=28, channels=1, num_classes=4)
    model = _nearest_mean_model(train)
    result = {
        "band_split": get_metric("band_split").compute(model, test, radii=[3, 50], batch_size=64),
        "long_tail": get_metric("long_tail").compute(model, test, batch_size=64),
        "gradient_spectrum": get_metric("gradient_spectrum").compute(model, test, batch_size=64),
        "fourier_heatmap": get_metric("fourier_heatmap").compute(
            model, test.first(8), batch_size=64
        ),
    }
    return model, test, result


def test_low_pass_beyond_the_corner_is_clean_accuracy(setup):
    model, test, result = setup
    values = result["band_split"].values
    with torch.no_grad():
        clean = float((model(test.images).argmax(1) == test.labels).float().mean())
    assert clean > 0.8
    assert values["low_pass_accuracy"]["50"] == pytest.approx(clean)
    # The high part beyond the corner is ~0: a constant prediction, so about one class's share.
    shares = torch.bincount(test.labels).float() / len(test)
    assert values["high_pass_accuracy"]["50"] <= float(shares.max()) + 1e-9


def test_heatmap_is_mirror_symmetric(setup):
    _, _, result = setup
    result = result["fourier_heatmap"]
    heat = result.arrays["heatmap"]
    h, w = heat.shape
    for i in range(h):
        for j in range(w):
            assert heat[i, j] == heat[(2 * (h // 2) - i) % h, (2 * (w // 2) - j) % w]
    assert set(result.values["bands"]) == {"low", "middle", "high"}
    assert result.values["eps"] == pytest.approx(4.0 * 28 / 32) and result.values["n"] == 8


def _r80_numpy(image: np.ndarray) -> int:
    """Smallest R with rings 1..R holding >= 80% of the non-DC power (summed over channels)."""
    power = sum(np.abs(np.fft.fftshift(np.fft.fft2(ch))) ** 2 for ch in image)
    h, w = power.shape
    ring = np.floor(
        np.hypot(*np.meshgrid(np.arange(h) - h // 2, np.arange(w) - w // 2, indexing="ij"))
    )
    totals = [power[ring == k].sum() for k in range(int(ring.max()) + 1)]
    running = 0.0
    for radius in range(1, len(totals)):
        running += totals[radius]
        if running >= 0.8 * sum(totals[1:]):
            return radius
    return len(totals) - 1


def test_linear_model_gradient_and_tail_share_by_hand(setup):
    model, test, result = setup
    x, y = test.images[:5], test.labels[:5]
    grads = input_gradients(model, x, y, "cpu").numpy()
    logits = (x.flatten(1) @ model.weight.T + model.bias).detach().numpy()
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    onehot = np.eye(4)[y.numpy()]
    by_hand = ((softmax - onehot) @ model.weight.detach().numpy()).reshape(5, 1, 28, 28).mean(1)
    np.testing.assert_allclose(grads, by_hand, rtol=1e-4, atol=1e-7)

    # The reported tail share, recomputed from the gradients of every test image with numpy.
    all_grads = input_gradients(model, test.images, test.labels, "cpu").numpy().astype(np.float64)
    shares = []
    ring = np.floor(np.hypot(*np.meshgrid(np.arange(28) - 14, np.arange(28) - 14, indexing="ij")))
    for g, image in zip(all_grads, test.images.numpy(), strict=True):
        power = np.abs(np.fft.fftshift(np.fft.fft2(g))) ** 2
        r80 = _r80_numpy(image.astype(np.float64))
        shares.append(power[ring > r80].sum() / power[ring >= 1].sum())
    gradient = result["gradient_spectrum"].values
    assert gradient["tail_share"] == pytest.approx(np.mean(shares), rel=1e-6)
    assert 0 < gradient["entropy"] < 1
    top = gradient["mean_radius_top"]
    assert set(top) == {"1", "20", "50"}


def test_long_tail_head_and_tail(setup):
    _, test, result = setup
    tail = result["long_tail"].values
    r80 = np.mean([_r80_numpy(im.astype(np.float64)) for im in test.images.numpy()])
    assert tail["mean_r80"] == pytest.approx(r80)
    assert 0 <= tail["tail_accuracy"] <= 1 and tail["head_accuracy"] > tail["tail_accuracy"]


def _heatmap_by_hand(model, images, labels, eps, seed, limit):
    """Yin et al.'s map, one image and one basis at a time in numpy: for each shifted index
    (i, j) of one half-plane with |i - H//2|, |j - W//2| <= limit, the error rate under
    clip(x + eps * s * U_ij, 0, 1), U_ij = cos(2 pi (a m / H + b n / W)) / its norm; the
    signs s (one per basis, image and channel) are the protocol's: drawn for the whole
    half-plane from torch's generator seeded with ``seed``, in row-major half-plane order."""
    n, c, h, w = images.shape
    pairs = [(i, j) for i in range(h) for j in range(w)]
    mirror = {(i, j): ((2 * (h // 2) - i) % h, (2 * (w // 2) - j) % w) for i, j in pairs}
    half = [p for p in pairs if p[0] * w + p[1] <= mirror[p][0] * w + mirror[p][1]]
    generator = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, (len(half), n, c), generator=generator).numpy() * 2 - 1
    m, k = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    heat = np.full((h, w), np.nan)
    for index, (i, j) in enumerate(half):
        a, b = i - h // 2, j - w // 2
        if max(abs(a), abs(b)) > limit:
            continue
        basis = np.cos(2 * np.pi * (a * m / h + b * k / w))
        basis /= np.linalg.norm(basis)
        wrong = 0
        for image in range(n):
            x = images[image].numpy().astype(np.float64)
            perturbed = np.clip(x + eps * signs[index, image][:, None, None] * basis, 0, 1)
            with torch.no_grad():
                logits = model(torch.from_numpy(perturbed[None]).float())
            wrong += int(logits.argmax(1).item() != labels[image].item())
        heat[i, j] = heat[mirror[i, j]] = wrong / n
    return heat


def test_a_band_limited_heatmap_is_the_full_map_s_window_by_hand(monkeypatch):
    """A band limit measures the central window only: the same numbers as the whole map there
    (the signs do not depend on which bases run), NaN elsewhere, each checked against a plain
    loop, with the signs drawn a few bases at a time; a band is averaged only where the map
    measured it whole."""
    train = make_synthetic(200, size=12, channels=3, num_classes=3, split="train")
    test = make_synthetic(6, size=12, channels=3, num_classes=3)
    model = _nearest_mean_model(train)
    heatmap = get_metric("fourier_heatmap").compute
    monkeypatch.setattr("freqbench.sensitivity.SIGN_BLOCK", 5)  # signs drawn in 15 blocks
    full = heatmap(model, test, heatmap_eps=2.0, seed=3, batch_size=4, progress=False)
    window = heatmap(
        model, test, heatmap_eps=2.0, heatmap_band_limit=2, seed=3, batch_size=7, progress=False
    )
    by_hand = _heatmap_by_hand(model, test.images, test.labels, 2.0, 3, limit=2)
    measured = ~np.isnan(by_hand)
    assert measured.sum() == 25 and measured[4:9, 4:9].all()
    np.testing.assert_array_equal(np.isnan(window.arrays["heatmap"]), ~measured)
    np.testing.assert_allclose(window.arrays["heatmap"][measured], by_hand[measured])
    np.testing.assert_allclose(full.arrays["heatmap"][measured], by_hand[measured])
    assert window.values["band_limit"] == 2 and "band_limit" not in full.values
    spec = get_metric("fourier_heatmap")
    parts = [
        heatmap(model, test, heatmap_eps=2.0, heatmap_band_limit=2, seed=3, shard=(k, 3),
                progress=False)
        for k in range(3)
    ]  # fmt: skip
    np.testing.assert_array_equal(spec.merge(parts).arrays["heatmap"], window.arrays["heatmap"])
    values = {"heatmap_band_limit": 2, "preprocessing": None}
    assert spec.units(values, test.info) == 13  # the window's half: (25 - 1) / 2 + DC
    # d < 12 / 6 = 2 is low, d >= 4 high: the 5 x 5 window holds the whole low band only.
    d = np.hypot(*np.meshgrid(np.arange(12) - 6, np.arange(12) - 6, indexing="ij"))
    assert window.values["bands"]["low"] == pytest.approx(by_hand[d < 2].mean())
    assert window.values["bands"]["middle"] is window.values["bands"]["high"] is None
    full_map = full.arrays["heatmap"]
    assert full.values["bands"] == pytest.approx(
        {"low": full_map[d < 2].mean(), "middle": full_map[(d >= 2) & (d < 4)].mean(),
         "high": full_map[d >= 4].mean()}
    )  # fmt: skip
    with pytest.raises(UserError, match="past the highest frequency"):
        heatmap(model, test, heatmap_band_limit=7, progress=False)


def test_the_default_heatmap_eps_is_the_published_one_or_scaled_from_the_nearest():
    from freqbench.metrics.builtin.fourier_heatmap import default_heatmap_eps

    assert default_heatmap_eps(32) == 4.0 and default_heatmap_eps(224) == 15.7  # published
    assert default_heatmap_eps(28) == pytest.approx(3.5)  # Fashion-MNIST: 4 x 28 / 32
    assert default_heatmap_eps(64) == pytest.approx(8.0)  # nearer 32 than 224 by ratio
    assert default_heatmap_eps(288) == pytest.approx(15.7 * 288 / 224)  # a 288 px test size
