"""The one protocol module: defaults per dataset, what counts as standard, eps as text, bad values."""

from __future__ import annotations

import dataclasses
import math
import pickle
import re

import pytest

from freqbench.errors import UserError
from freqbench.protocol import Protocol, deviations, format_eps, is_standard, standard_protocol

ALL = ("clean", "autoattack", "corruptions", "band_split", "long_tail", "gradient_spectrum",
       "fourier_heatmap", "filters")  # fmt: skip

# The standard protocols, written out by hand (DESIGN.md section 4; Yin et al.'s heat-map eps
# of 4 at 32 x 32, scaled by H / 32, and 15.7 at ImageNet's 224 x 224; the whole spectrum).
FASHION_MNIST = {
    "norm": "Linf", "eps": 0.1, "n_examples": 10000, "autoattack_n_examples": 1000,
    "corruptions_n_examples": 10000, "heatmap_n_examples": 1000, "heatmap_eps": 3.5,
    "heatmap_band_limit": 0, "seed": 0, "batch_size": 500, "shards": 1, "q": 0.8, "corruptions_source": "generated",
    "reference": None, "preprocessing": None,
}  # fmt: skip
CIFAR10 = {**FASHION_MNIST, "eps": 8 / 255, "autoattack_n_examples": 10000, "heatmap_eps": 4.0}
# RobustBench's ImageNet Linf board: its 5000 images, all attacked at 4/255; a model without
# its own preprocessing gets RobustBench's default one.
IMAGENET = {
    **FASHION_MNIST, "eps": 4 / 255, "n_examples": 5000, "autoattack_n_examples": 5000,
    "corruptions_n_examples": 5000, "heatmap_eps": 15.7, "preprocessing": "Res256Crop224",
}  # fmt: skip


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ("fashion-mnist", FASHION_MNIST),
        ("cifar10", CIFAR10),
        ("cifar100-b", CIFAR10),
        ("imagenet", IMAGENET),
    ],
)
def test_standard_protocol_per_dataset(dataset, expected):
    assert standard_protocol(dataset) == pytest.approx(expected)
    # L2: DESIGN.md section 4; ImageNet has no RobustBench L2 board: 3.0 (see freqbench.data.imagenet)
    l2 = {"fashion-mnist": 1.5, "imagenet": 3.0}.get(dataset, 0.5)
    assert standard_protocol(dataset, "L2")["eps"] == l2


def test_more_images_than_the_minimum_is_still_standard():
    # The evaluator and the leaderboard used to disagree here (exactly 1000 vs at least 1000).
    resolved = Protocol(autoattack_n_examples=10000).resolve("fashion-mnist")
    assert resolved["autoattack_n_examples"] == 10000
    assert is_standard("fashion-mnist", resolved, ALL)
    fewer = Protocol(autoattack_n_examples=999).resolve("fashion-mnist")
    assert deviations("fashion-mnist", fewer, ALL) == [
        "autoattack_n_examples 999 (standard >= 1000)"
    ]


def test_only_the_fields_of_present_metrics_are_judged():
    resolved = Protocol("quick").resolve("fashion-mnist")  # 200 AutoAttack and heat-map images
    assert deviations("fashion-mnist", resolved, ("clean", "filters")) == []
    assert deviations("fashion-mnist", resolved, ALL) == [
        "autoattack_n_examples 200 (standard >= 1000)",
        "corruptions_n_examples 1000 (standard >= 10000)",
        "heatmap_n_examples 200 (standard >= 1000)",
    ]
    other = {**resolved, "seed": 1, "eps": 0.2}
    assert "seed 1 (standard 0)" in deviations("fashion-mnist", other, ("autoattack",))
    assert "eps 0.2 (standard 0.1)" in deviations("fashion-mnist", other, ("autoattack",))
    assert deviations("synthetic", resolved, ALL) == [
        "no standard protocol is defined for synthetic"
    ]


@pytest.mark.parametrize(
    ("eps", "text"), [(0.1, "0.1"), (0.2, "0.2"), (1.5, "1.5"), (8 / 255, "8/255"), (2 / 255, "2/255"), (0.5, "0.5")]
)  # fmt: skip
def test_one_eps_formatter(eps, text):
    # 0.2 is 51/255 exactly; it used to be "51/255" in the record and "0.2" on the page.
    assert format_eps(eps) == text


def test_defaults_are_capped_to_the_images_evaluated():
    resolved = Protocol(n_examples=24).resolve("fashion-mnist")
    assert resolved["autoattack_n_examples"] == resolved["heatmap_n_examples"] == 24
    assert resolved["corruptions_n_examples"] == 24


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        ({"eps": math.nan}, "finite"), ({"eps": math.inf}, "finite"), ({"eps": 0.0}, "> 0"),
        ({"eps": -0.1}, "> 0"), ({"eps": 1e9}, "larger than any Linf distance"),
        ({"norm": "L2", "eps": 100.0}, "larger than any L2 distance"),
        ({"norm": "L3"}, "Linf, L2, L1"), ({"seed": -1}, "[0, 2**63 - 1]"), ({"batch_size": 0}, "[1, 2**63 - 1]"),
        ({"n_examples": 20000}, "pass at most 10000"),
        ({"autoattack_n_examples": 20000}, "pass at most 10000"),
        ({"n_examples": 100, "heatmap_n_examples": 200}, "pass at most 100"),
        ({"heatmap_eps": 0.0}, "> 0"),
    ],
)  # fmt: skip
def test_bad_values_are_clear_errors(choices, message):
    with pytest.raises(UserError, match=re.escape(message)):
        Protocol(**choices).resolve("fashion-mnist")


def test_unknown_fields_and_presets_get_suggestions():
    with pytest.raises(UserError, match="Did you mean: autoattack_n_examples"):
        Protocol(autoatack_n_examples=5).resolve("fashion-mnist")
    with pytest.raises(UserError, match="Did you mean: quick"):
        Protocol("quik")


def test_the_quick_imagenet_heat_map_is_band_limited_and_not_standard():
    """The whole spectrum at 224 px is 25,090 bases: the quick preset measures the central
    31 x 31 window there (and the whole map at 28-32 px), and says it is not the standard."""
    assert Protocol("quick").resolve("fashion-mnist")["heatmap_band_limit"] == 0
    resolved = Protocol("quick").resolve("imagenet")
    assert resolved["heatmap_band_limit"] == 15
    assert "heatmap_band_limit 15 (standard 0)" in deviations(
        "imagenet", resolved, ("fourier_heatmap",)
    )


@pytest.mark.parametrize(
    "preprocessing",
    ["Crop288", "timm:size=288,crop_pct=1.0,crop_mode=center,interpolation=bicubic"],
)
def test_a_model_tested_at_288_px_is_standard_with_its_default_heat_map_eps(preprocessing):
    """The heat map's eps follows the model's input size (15.7 x 288 / 224 at 288 px): the
    standard it is judged by follows it too."""
    resolved = Protocol().resolve("imagenet", options={"preprocessing": preprocessing})
    assert resolved["heatmap_eps"] == pytest.approx(15.7 * 288 / 224)
    assert deviations("imagenet", resolved, ALL) == []
    other = {**resolved, "heatmap_eps": 15.7}
    assert deviations("imagenet", other, ("fourier_heatmap",)) == [
        "heatmap_eps 15.7 (standard 20.185714285714283)"
    ]


def test_a_resolved_protocol_is_typed_frozen_and_read_by_field_name():
    resolved = Protocol(n_examples=24, eps=0.05).resolve("fashion-mnist")
    assert (resolved.dataset, resolved.norm, resolved.eps) == ("fashion-mnist", "Linf", 0.05)
    assert (resolved.n_examples, resolved.seed, resolved.batch_size, resolved.shards) == (
        24, 0, 500, 1
    )  # fmt: skip
    assert resolved.preprocessing is None  # a tensor dataset takes none
    assert resolved["corruptions_n_examples"] == 24  # a metric's own field, by name
    assert dict(resolved) == resolved  # a mapping of every field, equal to its dict
    with pytest.raises(dataclasses.FrozenInstanceError):
        resolved.dataset = "cifar10"  # type: ignore[misc]
    with pytest.raises(TypeError):
        resolved.fields["eps"] = 0.1  # type: ignore[index]
    assert pickle.loads(pickle.dumps(resolved)) == resolved  # a task carries it to a worker
