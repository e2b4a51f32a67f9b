"""Convolution filter statistics as a metric (the definitions live in :mod:`.filters`)."""

from __future__ import annotations

from torch import nn

from freqbench.data import LabeledImages
from freqbench.filter_stats import filter_statistics
from freqbench.metrics.base import MetricResult, register_metric


@register_metric("filters", "sparsity, variance entropy, orthogonality, HF energy of conv filters")
def filters(
    model: nn.Module, data: LabeledImages, *, reference: nn.Module | None = None
) -> MetricResult:
    """Depends on the weights only; ``data`` is accepted so every metric has one signature."""
    return MetricResult(filter_statistics(model, reference))
