"""Checkpoints that are safe to load from strangers: safetensors weights plus a JSON sidecar.

The sidecar says how to rebuild the model (architecture, dataset, normalization) and how it was
trained (recipe, BaSS mode, the full resolved config). ``.pt`` files are read only through
``torch.load(weights_only=True)``, which refuses pickles that would run code.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
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
    _check_exists(path)
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
        raise UserError(f"{sidecar}: cannot read it: {_first_line(exc)}") from None
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


def _first_line(exc: BaseException) -> str:
    """The gist of an exception: its first sentence, or its type when it has no message."""
    text = str(exc).strip()
    return text.splitlines()[0].split(". ")[0][:200] if text else type(exc).__name__


def _check_exists(path: Path) -> None:
    if not path.exists():
        if path.is_symlink():
            try:
                path.stat()
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise UserError(
                        f"checkpoint {path} is a symbolic link that loops: point it at the file"
                    ) from None
            raise UserError(f"checkpoint {path} is a symbolic link to nothing: check the link")
        raise UserError(f"checkpoint {path} does not exist: check the path")
    if not path.is_file():
        raise UserError(f"checkpoint {path} is not a file")


def _corrupted(path: Path, kind: str, detail: str) -> UserError:
    if path.stat().st_size == 0:
        return UserError(f"{path} is empty: it is not a {kind} file (an interrupted copy?)")
    return UserError(
        f"{path} is not a readable {kind} file: it is truncated or corrupted ({detail}). "
        "Copy or download it again"
    )


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a damaged file is a UserError that says so."""
    path = Path(path)
    _check_exists(path)
    try:
        return load_file(str(path))
    except SafetensorError as exc:
        raise _corrupted(path, "safetensors", _first_line(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None


def _weights_only_detail(exc: pickle.UnpicklingError) -> str:
    found = re.search(r"WeightsUnpickler error:\s*(.+)", str(exc))
    return found.group(1).strip() if found else _first_line(exc)


def load_torch_file(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers only, never code.

    Every pickle-format file that freqbench, or a library it hands a file to, reads goes
    through here first. A file that is not a plain-tensor pickle (Python objects whose
    unpickling could run code, or no PyTorch file at all) is refused; a truncated one is
    reported as such. Both are UserErrors.
    """
    path = Path(path)
    _check_exists(path)
    if path.stat().st_size == 0:
        raise _corrupted(path, "PyTorch", "")
    with open(path, "rb") as f:
        head = f.read(2)
    if head not in (b"PK", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
        raise UserError(
            f"{path} is not a readable PyTorch file: it is neither the zip archive torch.save "
            "writes nor a pickle. Check the path, or copy or download the file again"
        )
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": noise for a user
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UserError(
            f"refusing to load {path}: torch.load(weights_only=True) rejected it "
            f"({_weights_only_detail(exc)}): it holds Python objects other than tensors, whose "
            "unpickling could run code, or it is not a PyTorch file. Re-save it as a state dict "
            "(torch.save(model.state_dict(), ...)) or as safetensors."
        ) from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # torch reports damage as RuntimeError, EOFError, KeyError, ...
        raise _corrupted(path, "PyTorch", f"{type(exc).__name__}: {_first_line(exc)}") from None


def holds_tensors(value: Any) -> bool:
    """Whether a loaded object is a (nested) dict with at least one tensor in it."""
    if isinstance(value, torch.Tensor):
        return True
    return isinstance(value, dict) and any(holds_tensors(v) for v in value.values())


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read weights without ever unpickling code: safetensors, or ``.pt`` with weights_only=True."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    state = load_torch_file(path)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise UserError(f"{path} does not hold a state dict (found {type(state).__name__})")
    wrong = [str(k) for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if wrong:
        raise UserError(
            f"{path} is not a state dict of tensors: {', '.join(wrong[:3])}"
            f"{' ...' if len(wrong) > 3 else ''} {'is not a tensor' if len(wrong) == 1 else 'are not tensors'}"
        )
    return state


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


def _listed(keys: list[str], limit: int = 3) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > limit else shown


def fit_state_dict(model: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load ``state`` into ``model``, all keys and shapes matching; otherwise a UserError that
    starts with ``what`` and names the missing, unexpected and misshapen keys (the first few
    of each, and how many)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    misshapen = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = [
        f"{len(keys)} {kind} key{'s' if len(keys) > 1 else ''}: {_listed(keys)}"
        for kind, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("misshapen", misshapen),
        )
        if keys
    ]
    if problems:
        raise UserError(f"{what}: " + "; ".join(problems))
    model.load_state_dict(state)
