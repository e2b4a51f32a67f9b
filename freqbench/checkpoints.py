"""Checkpoints that are safe to load from strangers: safetensors weights plus a JSON sidecar.

The sidecar says how to rebuild the model (architecture, dataset, normalization) and how it was
trained (recipe, BaSS mode, the full resolved config). ``.pt`` files are read only through
``torch.load(weights_only=True)``, which refuses pickles that would run code.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from freqbench import atomic
from freqbench.architectures import create_model
from freqbench.data import get_dataset_info
from freqbench.errors import UserError
from freqbench.provenance import versions

SIDECAR_FORMAT = "freqbench-checkpoint/1"


@dataclass
class CheckpointInfo:
    """The sidecar: everything needed to rebuild and to describe a model."""

    architecture: str
    dataset: str
    num_classes: int
    in_channels: int
    image_size: int
    mean: list[float]
    std: list[float]
    recipe: str | None = None
    bass_mode: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None
    format: str = SIDECAR_FORMAT

    @classmethod
    def for_dataset(cls, architecture: str, dataset: str, **kwargs: Any) -> CheckpointInfo:
        info = get_dataset_info(dataset)
        return cls(
            architecture=architecture,
            dataset=dataset,
            num_classes=info.num_classes,
            in_channels=info.channels,
            image_size=info.image_size[0],
            mean=list(info.mean),
            std=list(info.std),
            **kwargs,
        )

    def build(self) -> nn.Module:
        return create_model(
            self.architecture,
            self.num_classes,
            self.in_channels,
            image_size=self.image_size,
            mean=self.mean,
            std=self.std,
        )


def sidecar_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(model: nn.Module, path: str | Path, info: CheckpointInfo) -> Path:
    """Write ``path`` (.safetensors) and its ``.json`` sidecar, each atomically."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise UserError(f"checkpoints are saved as .safetensors, got '{path.name}'")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic.atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": SIDECAR_FORMAT})
    info.sha256 = sha256_of(path)
    info.provenance = {**versions(), **info.provenance}
    atomic.write_json(sidecar_path(path), info.__dict__)
    return path


def read_sidecar(path: str | Path) -> CheckpointInfo:
    path = Path(path)
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        raise UserError(
            f"{path} has no sidecar {sidecar.name}: freqbench needs it to know the architecture "
            "and dataset. Write one with `freqbench info --help` fields, or save with "
            "freqbench.checkpoints.save_checkpoint."
        )
    try:
        raw = json.loads(sidecar.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{sidecar}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    known = set(CheckpointInfo.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UserError(f"{sidecar}: unknown keys {unknown}; known keys are {sorted(known)}")
    try:
        return CheckpointInfo(**raw)
    except TypeError as exc:
        raise UserError(f"{sidecar}: {exc}") from None


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read weights without ever unpickling code: safetensors, or ``.pt`` with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UserError(
            f"refusing to load {path}: it holds Python objects that are not plain tensors, and "
            f"unpickling them could run code ({str(exc).splitlines()[0]}). Re-save it as a state "
            "dict (torch.save(model.state_dict(), ...)) or as safetensors."
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise UserError(f"{path} does not hold a state dict (found {type(state).__name__})")
    return state


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu", verify: bool = True
) -> tuple[nn.Module, CheckpointInfo]:
    """Rebuild the model its sidecar describes and load the weights into it, in eval mode."""
    path = Path(path)
    info = read_sidecar(path)
    if verify and info.sha256 and path.is_file() and sha256_of(path) != info.sha256:
        raise UserError(f"{path}: sha256 differs from its sidecar: the weights were changed")
    model = info.build()
    state = load_state_dict(path)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise UserError(
            f"{path} does not fit architecture '{info.architecture}': {str(exc).splitlines()[0]}"
        ) from None
    return model.to(device).eval(), info
