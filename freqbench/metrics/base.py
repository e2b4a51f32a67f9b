"""The metric registry and the helpers every metric shares (batched, no-grad prediction)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from freqbench.registry import Registry


@dataclass
class MetricResult:
    """Plain JSON-ready numbers, plus arrays (e.g. a heat map) that the evaluator saves beside."""

    values: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


MetricFn = Callable[..., MetricResult]


@dataclass(frozen=True)
class Metric:
    name: str
    fn: MetricFn
    description: str


_METRICS: Registry[Metric] = Registry("metric")


def register_metric(name: str, description: str):
    def wrap(fn: MetricFn) -> MetricFn:
        _METRICS.register(name, Metric(name, fn, description))
        return fn

    return wrap


def get_metric(name: str) -> Metric:
    return _METRICS.get(name)


def list_metrics(pattern: str | None = None) -> list[str]:
    return _METRICS.names(pattern)


@torch.inference_mode()
def predict(
    model: nn.Module, images: torch.Tensor, batch_size: int, device: str | torch.device
) -> torch.Tensor:
    """Predicted labels (on the CPU) for images held on the CPU, one batch at a time on ``device``."""
    out = [
        model(chunk.to(device, non_blocking=True)).argmax(1).cpu()
        for chunk in images.split(batch_size)
    ]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    device: str | torch.device,
) -> float:
    return float((predict(model, images, batch_size, device) == labels).float().mean())
