"""Clean accuracy: the share of test images classified correctly, and how the predictions
spread over the classes (a model whose predictions fall into a few classes has not learned,
whatever its other numbers say)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from freqbench.metrics.counts import fraction_problems
from freqbench.metrics.presentation import Column, Presentation
from freqbench.metrics.spec import COUNT, FRACTION, MetricResult, MetricSpec, percent

if TYPE_CHECKING:
    import torch
    from torch import nn

    from freqbench.data import LabeledImages


def clean_accuracy(
    model: nn.Module,
    data: LabeledImages,
    *,
    clean_predictions: torch.Tensor | None = None,
    batch_size: int = 500,
    device: str = "cpu",
) -> MetricResult:
    """Accuracy and predicted-class counts from the shared clean predictions (made here when
    the metric is called on its own)."""
    import torch

    from freqbench.prediction import predict_data

    predicted = (
        clean_predictions[: len(data)]
        if clean_predictions is not None
        else predict_data(model, data, batch_size, device)
    )
    hits = predicted == data.labels.cpu()
    counts = torch.bincount(predicted, minlength=data.info.num_classes).tolist()
    return MetricResult({
        "accuracy": float(hits.float().mean()),
        "correct": int(hits.sum()),
        "n": len(data),
        "predicted_classes": counts,
    })  # fmt: skip


def _check(block: Mapping[str, Any]) -> list[str]:
    """Accuracy is ``correct`` of ``n``; the predicted classes count the ``n`` images."""
    found = fraction_problems(
        "accuracy", block.get("accuracy"), block.get("n"), block.get("correct")
    )
    predicted = block.get("predicted_classes")
    counted = isinstance(predicted, list) and all(isinstance(c, int) for c in predicted)
    if counted and sum(predicted) != block.get("n"):
        found.append(f"predicted_classes: count {sum(predicted)} images, not n = {block.get('n')}")
    return found


SPEC = MetricSpec(
    name="clean",
    description="accuracy on the unmodified test images",
    version="2",
    compute=clean_accuracy,
    reads=("n_examples",),
    needs=("clean_predictions",),
    presentation=Presentation(
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
        headline=lambda block: [
            ("clean accuracy", f"{percent(block['accuracy'])}  (n={block['n']})")
        ],
    ),
    schema={
        "type": "object",
        "required": ["accuracy", "n"],
        "properties": {
            "accuracy": FRACTION,
            "correct": COUNT,  # images classified correctly (absent from blocks made before)
            "n": COUNT,
            # version 2: how many images were predicted as each class
            "predicted_classes": {"type": "array", "items": COUNT},
        },
    },
    check=_check,
    order=10,
)
