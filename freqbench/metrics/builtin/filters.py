"""Convolution filter statistics (Gavrikov and Keuper, CVPR 2022); the definitions live in
:mod:`freqbench.filter_stats`. They depend on the weights only: no test image is read."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqbench.errors import UserError
from freqbench.metrics.presentation import Column, Presentation
from freqbench.metrics.spec import (
    COUNT,
    Artifact,
    MetricResult,
    MetricSpec,
    ProtocolField,
)

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

#: The per-layer statistics (freqbench.filter_stats.STAT_KEYS): title and description.
STATISTICS = {
    "sparsity": ("Sparsity", "share of (near) zero first-layer kernels"),
    "variance_entropy": (
        "Var. entropy",
        "diversity of first-layer kernels (base-10 PCA entropy; 0.954 is the 3x3 maximum)",
    ),
    "variance_entropy_clean": (
        "Var. entropy (non-sparse)",
        "variance entropy without the sparse kernels",
    ),
    "orthogonality": ("Orthogonality", "1 - mean |cosine| between first-layer filters"),
    "kernel_high_frequency_energy": (
        "Kernel HF energy",
        "share of first-layer kernel energy away from DC",
    ),
    "centre_fraction": ("Centre fraction", "share of first-layer kernel energy in the centre tap"),
}
MAIN_STATISTICS = ("sparsity", "variance_entropy", "orthogonality", "centre_fraction")


def filters(
    model: nn.Module,
    data: None = None,
    *,
    reference: str | None = None,
    load_model: Callable[[str], nn.Module] | None = None,
) -> MetricResult:
    """Statistics of ``model``'s conv filters; with ``reference`` (a model the evaluator loads
    through ``load_model``), the distribution shift of every layer from the reference's."""
    from freqbench.filter_stats import conv_layers, filter_statistics

    reference_model = None
    if reference is not None:
        if load_model is None:
            raise UserError("the filter shift needs load_model to load the reference model")
        reference_model = load_model(reference)
    values = filter_statistics(model, reference_model)
    if reference is not None:
        values["distribution_shift"]["reference"] = reference
    return MetricResult(values, {"first_layer": conv_layers(model)[0][1]})


def _plot(weight: np.ndarray, path: Path, context: Mapping[str, Any]) -> None:
    from freqbench.plots.filters import plot_filter_grid

    plot_filter_grid(weight, context["values"]["first_layer"]["name"], path)


def _headline(block: Mapping[str, Any]) -> list[tuple[str, str]]:
    first = block["first_layer"]
    k = first["k"]
    values = " / ".join(f"{first[s]:.3f}" for s in ("sparsity", "variance_entropy", "orthogonality", "centre_fraction"))  # fmt: skip
    # Variance entropy is at most log10(k * k): 0.954 for 3x3, 1.690 for 7x7 (DESIGN.md).
    rows = [(
        f"first layer ({k}x{k}) sparsity / ent / orth / centre",
        f"{values}  (entropy max {math.log10(k * k):.3f} at {k}x{k})",
    )]  # fmt: skip
    shift = block.get("distribution_shift")
    if shift is not None:
        value = (
            f"{shift['first_layer']:.3f} (first layer, symmetric KL)"
            if shift["first_layer"] is not None
            else f"n/a: the first layer is {first['k']}x{first['k']}, the shift is defined on 3x3"
        )
        rows.append((f"filter shift from {shift['reference']}", value))
    return rows


_STATS_SCHEMA = {
    "type": "object",
    "required": list(STATISTICS),
    "properties": {key: {"type": "number"} for key in STATISTICS},
}
_DECILE = {"type": "integer", "minimum": 0, "maximum": 9}
_LAYER = {
    "allOf": [_STATS_SCHEMA],
    "required": ["name", "out", "in", "k", "n_kernels"],
    "properties": {
        "name": {"type": "string"},
        "out": COUNT,
        "in": COUNT,
        "k": COUNT,
        "n_kernels": COUNT,
        "depth": {"type": "number", "minimum": 0, "maximum": 1},
        "decile": _DECILE,
    },
}

SPEC = MetricSpec(
    name="filters",
    description="sparsity, variance entropy, orthogonality, HF energy of conv filters",
    # 2: the distribution shift as the CNN-Filter-DB notebook computes it, and orthogonality
    # with torchconvquality's diagonal term for all-zero filters.
    version="2",
    compute=filters,
    reads=("reference",),
    fields=(
        ProtocolField(
            "reference",
            str,
            "model for the filter distribution shift (e.g. the natural one)",
            standard="any",
            model_reference=True,
        ),
    ),
    images=None,
    presentation=Presentation(
        columns=(
            *(
                Column(
                    key,
                    title,
                    description,
                    ("first_layer", key),
                    main=key in MAIN_STATISTICS,
                    correlate=True,
                    legend="Sparsity, Var. entropy, Orthogonality and Centre fraction describe the "
                    "first convolution layer (Gavrikov and Keuper, CVPR 2022)."
                    if key == "sparsity"
                    else "",
                )
                for key, (title, description) in STATISTICS.items()
            ),
            Column(
                "filter_shift",
                "Filter shift",
                "first-layer kernel distribution shift from the reference model (symmetric KL)",
                ("distribution_shift", "first_layer"),
                correlate=True,
            ),
        ),
        headline=_headline,
        correlation_note="The filter metrics describe the first convolution layer.",
    ),
    artifacts=(
        Artifact(
            "filters_png",
            "filters.png",
            "first_layer",
            _plot,
            caption="First-layer convolution filters",
            alt="First-layer filters of",
            missing="no filter grid",
        ),
    ),
    schema={
        "type": "object",
        "required": ["first_layer", "deciles", "layers"],
        "properties": {
            "first_layer": _LAYER,
            "deciles": {
                "type": "array",
                "items": {
                    "allOf": [_STATS_SCHEMA],
                    "required": ["decile", "n_layers", "n_kernels"],
                    "properties": {"decile": _DECILE, "n_layers": COUNT, "n_kernels": COUNT},
                },
            },
            "layers": {
                "type": "array",
                "items": {"allOf": [_LAYER], "required": ["depth", "decile"]},
            },
            "distribution_shift": {
                "type": "object",
                "required": ["first_layer", "deciles", "layers", "reference"],
                "properties": {
                    # null: the first layer is not 3x3 (CNN-Filter-DB's kernel size)
                    "first_layer": {"type": ["number", "null"]},
                    # version 2 blocks before it have 3x3 kernels only
                    "kernel_size": {"const": 3},
                    "deciles": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["decile", "n_layers", "n_kernels", "distribution_shift"],
                            "properties": {
                                "decile": _DECILE,
                                "distribution_shift": {"type": "number"},
                            },
                        },
                    },
                    "layers": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": [
                                "name",
                                "depth",
                                "decile",
                                "n_kernels",
                                "distribution_shift",
                            ],
                            "properties": {
                                "name": {"type": "string"},
                                "distribution_shift": {"type": "number"},
                            },
                        },
                    },
                    "reference": {"type": "string"},
                },
            },
        },
    },
    nan_allowed=True,
    order=50,
)
