"""Accuracy on low- and high-pass filtered images (Wang et al., CVPR 2020: CNNs use the
high-frequency components humans cannot see). DESIGN.md section 2, "Fixed-radius split"; the
computation is :func:`freqbench.sensitivity.split_accuracy`. The filtered images are not
clipped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from freqbench.metrics.counts import keyed_problems
from freqbench.metrics.presentation import Column, Presentation
from freqbench.metrics.spec import (
    BY_RADIUS,
    COUNT,
    FRACTION,
    MetricResult,
    MetricSpec,
    percent,
)

if TYPE_CHECKING:
    from torch import nn

    from freqbench.data import LabeledImages


def band_split(
    model: nn.Module,
    data: LabeledImages,
    *,
    radii: list[int] | None = None,
    batch_size: int = 500,
    device: str = "cpu",
    progress: bool = True,
) -> MetricResult:
    """Low- and high-pass accuracy at Wang et al.'s radii (4, 8, 12, 16 at 32 px, scaled)."""
    from freqbench.sensitivity import split_accuracy
    from freqbench.spectral import scaled_radii

    radii = radii or scaled_radii(data.image_shape[-2])
    low, high = split_accuracy(model, data, radii, batch_size, device, progress)
    n = len(data)
    return MetricResult({
        "radii": list(radii),
        "headline_radius": radii[len(radii) // 2 - 1] if len(radii) > 1 else radii[0],
        "low_pass_accuracy": {r: count / n for r, count in low.items()},
        "high_pass_accuracy": {r: count / n for r, count in high.items()},
        "low_pass_correct": low,
        "high_pass_correct": high,
        "n": n,
    })  # fmt: skip


def _check(block: Mapping[str, Any]) -> list[str]:
    """Each radius's accuracies are its counts over ``n``."""
    n = block.get("n")
    return [
        *keyed_problems("low_pass_accuracy", block.get("low_pass_accuracy"), n, block.get("low_pass_correct")),
        *keyed_problems("high_pass_accuracy", block.get("high_pass_accuracy"), n, block.get("high_pass_correct")),
    ]  # fmt: skip


def _at_headline_radius(part: str):
    """Accuracy at the block's headline radius; radii are JSON keys, written as in ``f"{r:g}"``."""

    def read(block: Mapping[str, Any]) -> Any:
        radius = block.get("headline_radius")
        return None if radius is None else block.get(part, {}).get(f"{radius:g}")

    return read


def _table_context(blocks: list[Mapping[str, Any]]) -> dict[str, str]:
    radii = sorted({f"{b['headline_radius']:g}" for b in blocks if "headline_radius" in b})
    if not radii:  # an empty table: its title and its legend say the same
        return {"radius": "n/a", "radii": "n/a"}
    return {"radius": radii[0] if len(radii) == 1 else "varies", "radii": ", ".join(radii)}


def _headline(block: Mapping[str, Any]) -> list[tuple[str, str]]:
    r = f"{block['headline_radius']:g}"
    return [(
        f"low-pass / high-pass r={r}",
        f"{percent(block['low_pass_accuracy'][r])} / {percent(block['high_pass_accuracy'][r])}",
    )]  # fmt: skip


SPEC = MetricSpec(
    name="band_split",
    description="accuracy on low- and high-pass filtered images (Wang et al. 2020)",
    version="1",
    compute=band_split,
    reads=("n_examples",),
    presentation=Presentation(
        columns=(
            Column(
                "lfc",
                "LFC",
                "accuracy on low-pass filtered images at the headline radius (Wang et al.)",
                read=_at_headline_radius("low_pass_accuracy"),
                percent=True,
                main=True,
                correlate=True,
                main_title="LFC (r={radius})",
                legend="LFC / HFC: accuracy on low- / high-pass filtered test images at radius r = "
                "{radii} (Wang et al., CVPR 2020; the filtered images are not clipped).",
            ),
            Column(
                "hfc",
                "HFC",
                "accuracy on high-pass filtered images at the headline radius (Wang et al.)",
                read=_at_headline_radius("high_pass_accuracy"),
                percent=True,
                main=True,
                correlate=True,
                main_title="HFC (r={radius})",
            ),
        ),
        headline=_headline,
        table_context=_table_context,
    ),
    schema={
        "type": "object",
        "required": ["radii", "headline_radius", "low_pass_accuracy", "high_pass_accuracy", "n"],
        "properties": {
            "radii": {
                "type": "array",
                "items": {"type": "number", "exclusiveMinimum": 0},
                "minItems": 1,
            },
            "headline_radius": {"type": "number", "exclusiveMinimum": 0},
            "low_pass_accuracy": {**BY_RADIUS, "additionalProperties": FRACTION},
            "high_pass_accuracy": {**BY_RADIUS, "additionalProperties": FRACTION},
            # the images classified correctly (absent from blocks made before)
            "low_pass_correct": {**BY_RADIUS, "additionalProperties": COUNT},
            "high_pass_correct": {**BY_RADIUS, "additionalProperties": COUNT},
            "n": COUNT,
        },
    },
    check=_check,
    order=40,
)
