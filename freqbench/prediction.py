"""Batched, gradient-free prediction: the one loop every metric uses to count correct answers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from freqbench.data import LabeledImages
    from freqbench.data.base import ImageStream


@torch.inference_mode()
def predict(
    model: nn.Module, images: torch.Tensor, batch_size: int, device: str | torch.device
) -> torch.Tensor:
    """Predicted labels, on the CPU, for ``images`` (on any device), ``batch_size`` at a time."""
    out = [
        model(chunk.to(device, non_blocking=True)).argmax(1).cpu()
        for chunk in images.split(batch_size)
    ]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


@torch.inference_mode()
def predict_data(
    model: nn.Module,
    data: LabeledImages | ImageStream,
    batch_size: int,
    device: str | torch.device,
) -> torch.Tensor:
    """Predicted labels, on the CPU, for every image of ``data`` (in memory or streamed)."""
    out = [predict(model, images, batch_size, device) for images, _ in data.batches(batch_size)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def correct(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    device: str | torch.device,
) -> torch.Tensor:
    """Per image, whether the model classifies it correctly (a bool tensor on the CPU)."""
    return predict(model, images, batch_size, device) == labels.cpu()


def n_correct(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    device: str | torch.device,
) -> int:
    return int(correct(model, images, labels, batch_size, device).sum())


def accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    device: str | torch.device,
) -> float:
    return float(correct(model, images, labels, batch_size, device).float().mean())


def cell_counts(
    model: nn.Module,
    batches: Iterable[tuple[str, int, torch.Tensor, torch.Tensor]],
    cells: Iterable[tuple[str, int]],
    batch_size: int,
    device: str | torch.device,
    on_batch: Callable[[str, int], None] = lambda name, severity: None,
) -> dict[str, list[int]]:
    """[correct, counted] per ``"<corruption>:<severity>"`` cell over a corrupted source's
    ``(corruption, severity, images, labels)`` batches; ``on_batch`` hears of each batch."""
    counts = {f"{name}:{severity}": [0, 0] for name, severity in cells}
    for name, severity, images, labels in batches:
        count = counts[f"{name}:{severity}"]
        count[0] += n_correct(model, images, labels, batch_size, device)
        count[1] += len(labels)
        on_batch(name, severity)
    return counts
