"""The frequency metrics against hand computations: band split, heat-map symmetry, gradient
spectrum, long-tail split."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from freqbench.data import make_synthetic
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
