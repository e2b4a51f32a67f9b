"""Accuracy on the spectral head and tail of each image (Lin et al., NeurIPS 2023: an image
spectrum is long-tailed, and models under-learn its tail). DESIGN.md section 2, "Long-tail
split"; the computation is :func:`freqbench.sensitivity.long_tail`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from freqbench.metrics.counts import fraction_problems
from freqbench.metrics.presentation import Column, Presentation
from freqbench.metrics.spec import (
    COUNT,
    FRACTION,
    MetricResult,
    MetricSpec,
    ProtocolField,
    percent,
)

if TYPE_CHECKING:
    from torch import nn

    from freqbench.data import LabeledImages


def long_tail_split(
    model: nn.Module,
    data: LabeledImages,
    *,
    q: float = 0.8,
    batch_size: int = 500,
    device: str = "cpu",
    progress: bool = True,
) -> MetricResult:
    from freqbench.sensitivity import long_tail

    return MetricResult({**long_tail(model, data, q, batch_size, device, progress), "n": len(data)})


def _headline(block: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(
        "head / tail (mean R80)",
        f"{percent(block['head_accuracy'])} / {percent(block['tail_accuracy'])}  ({block['mean_r80']:.2f})",
    )]  # fmt: skip


def _check(block: Mapping[str, Any]) -> list[str]:
    """Head and tail accuracies are their counts over ``n``."""
    n = block.get("n")
    return [
        *fraction_problems("head_accuracy", block.get("head_accuracy"), n, block.get("head_correct")),
        *fraction_problems("tail_accuracy", block.get("tail_accuracy"), n, block.get("tail_correct")),
    ]  # fmt: skip


#: The power share of the head, read by the long-tail split and the gradient spectrum.
Q = ProtocolField(
    "q",
    float,
    "power share of the long-tail head (0.8: R80)",
    default=0.8,
    minimum=0,
    exclusive_minimum=True,
    maximum=1,
    cli=False,
)

SPEC = MetricSpec(
    name="long_tail",
    description="accuracy on each image's spectral head and tail (Lin et al. 2023)",
    version="1",
    compute=long_tail_split,
    reads=("n_examples", "q"),
    fields=(Q,),
    presentation=Presentation(
        columns=(
            Column(
                "head",
                "Head acc.",
                "accuracy on the spectral head (rings holding 80% of the power; Lin et al.)",
                ("head_accuracy",),
                percent=True,
                correlate=True,
            ),
            Column(
                "tail",
                "Tail acc.",
                "accuracy on the spectral tail (Lin et al.)",
                ("tail_accuracy",),
                percent=True,
                correlate=True,
            ),
        ),
        headline=_headline,
    ),
    schema={
        "type": "object",
        "required": ["q", "mean_r80", "head_accuracy", "tail_accuracy", "n"],
        "properties": {
            "q": FRACTION,
            "mean_r80": {"type": "number", "minimum": 0},
            "head_accuracy": FRACTION,
            "tail_accuracy": FRACTION,
            # the images classified correctly (absent from blocks made before)
            "head_correct": COUNT,
            "tail_correct": COUNT,
            "n": COUNT,
        },
    },
    check=_check,
    order=41,
)
