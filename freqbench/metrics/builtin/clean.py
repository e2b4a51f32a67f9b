"""Clean accuracy: the share of test images classified correctly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from freqbench.metrics.spec import COUNT, FRACTION, Column, MetricResult, MetricSpec, percent

if TYPE_CHECKING:
    from torch import nn

    from freqbench.data import LabeledImages


def clean_accuracy(
    model: nn.Module, data: LabeledImages, *, batch_size: int = 500, device: str = "cpu"
) -> MetricResult:
    from freqbench.prediction import accuracy

    acc = accuracy(model, data.images, data.labels, batch_size, device)
    return MetricResult({"accuracy": acc, "n": len(data)})


SPEC = MetricSpec(
    name="clean",
    description="accuracy on the unmodified test images",
    version="1",
    compute=clean_accuracy,
    reads=("n_examples",),
    columns=(
        Column(
            "clean",
            "Clean",
            "accuracy on clean test images",
            ("accuracy",),
            percent=True,
            higher_is_better=True,
            main=True,
            bass_delta=True,
            headline=True,
            model_info="clean_acc",
            count=("n",),
        ),
    ),
    schema={
        "type": "object",
        "required": ["accuracy", "n"],
        "properties": {"accuracy": FRACTION, "n": COUNT},
    },
    headline=lambda block: [("clean accuracy", f"{percent(block['accuracy'])}  (n={block['n']})")],
    order=10,
)
