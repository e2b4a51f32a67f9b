"""Clean accuracy: the share of test images classified correctly."""

from __future__ import annotations

from torch import nn

from freqbench.data import LabeledImages
from freqbench.metrics.base import MetricResult, accuracy, register_metric


@register_metric("clean", "accuracy on the unmodified test images")
def clean_accuracy(
    model: nn.Module, data: LabeledImages, *, batch_size: int = 500, device: str = "cpu"
) -> MetricResult:
    acc = accuracy(model, data.images, data.labels, batch_size, device)
    return MetricResult({"accuracy": acc, "n": len(data)})
