"""The Fourier heat-map figure: frequency axes, title, colour scales, and the PNG it writes.

The figure is inspected as an object (axes, ticks, image, norm), never by its pixels.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.image import imread

from freqbench.errors import UnknownNameError, UserError
from freqbench.metrics import get_metric
from freqbench.plots import heatmap as heatmap_module
from freqbench.plots.heatmap import heatmap_figure, plot_heatmap

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _map(h: int = 28, w: int = 28, seed: int = 0) -> np.ndarray:
    """Error rates in [0.1, 0.9] with no symmetry, so a flipped or shifted axis shows."""
    return 0.1 + 0.8 * np.random.default_rng(seed).random((h, w))


def _drawn(fig):
    FigureCanvasAgg(fig).draw()
    return fig


def _labels(ticklabels) -> list[str]:
    return [t.get_text().replace("\N{MINUS SIGN}", "-") for t in ticklabels]


def _value_at(fig, u: float, v: float) -> float:
    """The shown value at horizontal frequency u and vertical frequency v, as a mouse over
    that point of the axes would read it."""
    ax = fig.axes[0]
    x, y = ax.transData.transform((u, v))
    return float(ax.images[0].get_cursor_data(SimpleNamespace(x=x, y=y)))


def test_png_is_written_atomically_and_is_a_valid_png(tmp_path):
    path = plot_heatmap(_map(), tmp_path / "m.heatmap.png", name="m", eps=3.5, n=1000)
    assert path == tmp_path / "m.heatmap.png"
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] >= 300 and image.shape[1] >= 300
    assert [p.name for p in tmp_path.iterdir()] == ["m.heatmap.png"]  # no temporary file left


def test_axes_are_labelled_frequencies_with_zero_at_the_centre():
    heat = _map()
    fig = _drawn(heatmap_figure(heat, name="smallcnn-trades", eps=3.5, n=1000))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "horizontal frequency (cycles per image)"
    assert ax.get_ylabel() == "vertical frequency (cycles per image)"
    # 28 x 28: frequencies -14 .. 13; every 4th (7 labels), 0 among them.
    expected = [-12, -8, -4, 0, 4, 8, 12]
    assert list(ax.get_xticks()) == expected and list(ax.get_yticks()) == expected
    assert _labels(ax.get_xticklabels()) == [str(k) for k in expected]
    assert _labels(ax.get_yticklabels()) == [str(k) for k in expected]
    assert list(ax.images[0].get_extent()) == [-14.5, 13.5, -14.5, 13.5]
    # Frequency (u, v) is entry [v + 14, u + 14] of the shifted map: the centre is (0, 0).
    for u, v in [(0, 0), (3, -5), (-14, 13), (13, -14), (-7, 2)]:
        assert _value_at(fig, u, v) == pytest.approx(heat[v + 14, u + 14])
    title = ax.get_title()
    assert "smallcnn-trades" in title and "L2 eps 3.5" in title and "n = 1000 images" in title


def test_ticks_follow_the_image_size():
    ax = _drawn(heatmap_figure(_map(32, 32))).axes[0]
    assert list(ax.get_xticks()) == [-16, -12, -8, -4, 0, 4, 8, 12]  # -16 .. 15: 8 labels
    ax = _drawn(heatmap_figure(_map(8, 12))).axes[0]
    assert list(ax.get_yticks()) == [-4, -3, -2, -1, 0, 1, 2, 3]  # 8 rows: every frequency
    assert list(ax.get_xticks()) == [-6, -4, -2, 0, 2, 4]  # 12 columns: -6 .. 5
    assert list(ax.images[0].get_extent()) == [-6.5, 5.5, -4.5, 3.5]


def test_absolute_scale_is_the_default_and_runs_from_zero_to_one():
    fig = heatmap_figure(_map(), name="m")
    image = fig.axes[0].images[0]
    assert (image.norm.vmin, image.norm.vmax) == (0.0, 1.0)
    np.testing.assert_allclose(image.get_array(), _map())
    assert fig.axes[1].get_ylabel() == "error rate"  # the colour bar


def test_relative_scale_is_centred_at_zero_on_a_diverging_map():
    heat = _map()
    fig = heatmap_figure(heat, name="m", eps=3.5, n=1000, scale="relative", clean_error=0.2)
    image = fig.axes[0].images[0]
    np.testing.assert_allclose(image.get_array(), heat - 0.2)
    reach = np.abs(heat - 0.2).max()
    assert image.norm.vmin == pytest.approx(-reach) and image.norm.vmax == pytest.approx(reach)
    assert image.norm(0.0) == pytest.approx(0.5)  # 0 sits at the middle of the colour map
    assert min(image.cmap(0.5)[:3]) > 0.9  # ... which is near white: a diverging map
    low, high = image.cmap(0.0), image.cmap(1.0)
    assert low[2] > low[0] and high[0] > high[2]  # blue below the clean error, red above
    assert fig.axes[1].get_ylabel() == "error rate − clean error"
    assert "clean error 20.0%" in fig.axes[0].get_title()
    flat = heatmap_figure(np.full((28, 28), 0.2), scale="relative", clean_error=0.2)
    norm = flat.axes[0].images[0].norm
    assert norm.vmax > 0 and norm.vmin == -norm.vmax  # a flat map still gets a colour bar


def test_bad_scales_are_one_clear_error():
    with pytest.raises(UnknownNameError, match="Did you mean: relative"):
        heatmap_figure(_map(), scale="relatve")
    with pytest.raises(UserError, match="needs the model's clean error"):
        heatmap_figure(_map(), scale="relative")


@pytest.mark.parametrize("scale", [None, "absolute", "relative"])
def test_heatmap_metric_writer_takes_eps_n_and_clean_error_from_the_block(
    tmp_path, monkeypatch, scale
):
    built = []

    def spy(*args, **kwargs):
        built.append(heatmap_figure(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(heatmap_module, "heatmap_figure", spy)
    (artifact,) = [a for a in get_metric("fourier_heatmap").artifacts if a.key == "heatmap_png"]
    values = {"clean_accuracy": 0.875, "eps": 3.5, "n": 200, "bands": {}}
    context = {"name": "smallcnn-natural", "values": values}
    if scale is not None:
        context["heatmap_scale"] = scale
    heat = _map()
    path = tmp_path / "smallcnn-natural.heatmap.png"
    artifact.write(heat, path, context)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    ax = built[0].axes[0]
    title = ax.get_title()
    assert "smallcnn-natural" in title and "L2 eps 3.5" in title and "n = 200 images" in title
    norm = ax.images[0].norm
    if scale == "relative":
        assert norm.vmin == -norm.vmax
        np.testing.assert_allclose(ax.images[0].get_array(), heat - 0.125)
    else:
        assert (norm.vmin, norm.vmax) == (0.0, 1.0)
