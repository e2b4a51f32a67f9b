"""Where the input gradient's power sits in the spectrum (Lin et al., NeurIPS 2023, section
3.2: models are most sensitive in the spectral tail). DESIGN.md section 2, "Gradient
frequency sensitivity"; the computation is :func:`freqbench.sensitivity.gradient_metrics`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

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


def gradient_spectrum(
    model: nn.Module,
    data: LabeledImages,
    *,
    q: float = 0.8,
    batch_size: int = 500,
    device: str = "cpu",
    progress: bool = True,
) -> MetricResult:
    from freqbench.sensitivity import gradient_metrics

    return MetricResult(
        {**gradient_metrics(model, data, q, batch_size, device, progress), "n": len(data)}
    )


def _headline(block: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [("gradient power in tail", percent(block["tail_share"]))]


SPEC = MetricSpec(
    name="gradient_spectrum",
    description="share, entropy and radii of the input gradient's spectral power (Lin et al. 2023)",
    version="1",
    compute=gradient_spectrum,
    reads=("n_examples", "q"),
    presentation=Presentation(
        columns=(
            Column(
                "tail_share",
                "Grad. tail share",
                "share of input-gradient power beyond the data's R80 radius (Lin et al.)",
                ("tail_share",),
                main=True,
                correlate=True,
                bass_delta=True,
                legend="Grad. tail share: share of input-gradient power beyond the data's R80 radius (Lin et al.).",
                bass_note="gradient tail share as a fraction (BaSS should lower it: Lin et al., NeurIPS 2023)",
            ),
            Column(
                "grad_entropy",
                "Grad. entropy",
                "spectral entropy of the input gradient's radial power profile",
                ("entropy",),
                correlate=True,
            ),
            *(
                Column(
                    f"grad_radius_{top}",
                    f"Grad. radius (top {top}%)",
                    f"mean radius of the top {top}% gradient coefficients",
                    ("mean_radius_top", top),
                    correlate=True,
                )
                for top in ("1", "20", "50")
            ),
        ),
        headline=_headline,
    ),
    schema={
        "type": "object",
        "required": ["tail_share", "entropy", "mean_radius_top", "n"],
        "properties": {
            "tail_share": FRACTION,
            "entropy": FRACTION,
            "mean_radius_top": {
                **BY_RADIUS,
                "minProperties": 0,
                "additionalProperties": {"type": "number", "minimum": 0},
            },
            "n": COUNT,
        },
    },
    order=42,
)
