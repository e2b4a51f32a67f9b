"""Small trained models for tests: seconds on a CPU, accurate enough for attacks to matter."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from freqbench.checkpoints import CheckpointInfo, save_checkpoint
from freqbench.data import load_dataset


def train_synthetic_smallcnn(path: Path, steps: int = 60) -> Path:
    """smallcnn on the 32x32x3 synthetic dataset, saved as a checkpoint with its sidecar."""
    torch.manual_seed(0)
    info = CheckpointInfo.for_dataset("smallcnn", "synthetic", recipe="natural")
    model = info.build()
    train = load_dataset("synthetic", "train")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for step in range(steps):
        idx = torch.arange(step * 64, (step + 1) * 64) % len(train)
        loss = F.cross_entropy(model(train.images[idx]), train.labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return save_checkpoint(model.eval(), path, info)
