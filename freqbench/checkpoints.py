"""Checkpoints that are safe to load from strangers: safetensors weights plus a JSON sidecar.

The sidecar says how to rebuild the model (architecture, dataset, normalization) and how it was
trained (recipe, BaSS mode, the full resolved config). The weights are read by
:mod:`freqbench.weights`: ``.pt`` files only through ``torch.load(weights_only=True)``, which
refuses pickles that would run code.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from freqbench import atomic
from freqbench.architectures import create_model
from freqbench.atomic import sha256_of
from freqbench.data import get_dataset_info
from freqbench.errors import UserError
from freqbench.paths import check_exists
from freqbench.provenance import versions
from freqbench.weights import first_line, fit_state_dict, load_state_dict

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
    check_exists(path)
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        raise UserError(
            f"{path} has no sidecar {sidecar.name}: freqbench needs it to know the architecture "
            "and dataset. Write one with `freqbench info --help` fields, or save with "
            "freqbench.checkpoints.save_checkpoint."
        )
    try:
        raw = json.loads(sidecar.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{sidecar}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{sidecar}: cannot read it: {first_line(exc)}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{sidecar}: expected a JSON object, found {type(raw).__name__}")
    known = set(CheckpointInfo.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UserError(f"{sidecar}: unknown keys {unknown}; known keys are {sorted(known)}")
    try:
        info = CheckpointInfo(**raw)
    except TypeError as exc:
        raise UserError(f"{sidecar}: {exc}") from None
    _check_sidecar_values(info, sidecar)
    return info


def _check_sidecar_values(info: CheckpointInfo, sidecar: Path) -> None:
    """The numbers that rebuild the model must make sense, or building it fails obscurely."""
    for key in ("num_classes", "in_channels", "image_size"):
        value = getattr(info, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UserError(f"{sidecar}: {key} must be a whole number >= 1, got {value!r}")
    for key in ("mean", "std"):
        value = getattr(info, key)
        numbers = isinstance(value, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
        if not numbers or len(value) != info.in_channels:
            raise UserError(
                f"{sidecar}: {key} must be a list of {info.in_channels} finite numbers (one per "
                f"input channel), got {value!r}"
            )
    if any(s <= 0 for s in info.std):
        raise UserError(f"{sidecar}: std values must be > 0, got {info.std}")
    for key in ("architecture", "dataset"):
        if not isinstance(getattr(info, key), str):
            raise UserError(f"{sidecar}: {key} must be a string, got {getattr(info, key)!r}")


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu", verify: bool = True
) -> tuple[nn.Module, CheckpointInfo]:
    """Rebuild the model its sidecar describes and load the weights into it, in eval mode."""
    path = Path(path)
    info = read_sidecar(path)
    if verify and info.sha256 and path.is_file() and sha256_of(path) != info.sha256:
        raise UserError(
            f"{path}: its sha256 differs from the one in its sidecar: the weights were changed "
            "or damaged (a truncated copy?). Restore the file, or re-save it with its sidecar"
        )
    model = info.build()
    fit_state_dict(
        model, load_state_dict(path), f"{path} does not fit architecture '{info.architecture}'"
    )
    return model.to(device).eval(), info
