"""Reading weight files safely: safetensors, or a PyTorch pickle through
``torch.load(weights_only=True)``, never code. Every weight file freqbench (or a library it
hands one to, like robustbench) reads goes through here: a submitted checkpoint is
untrusted input, and a damaged one is a clear error, not a traceback.
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from freqbench.errors import UserError
from freqbench.paths import check_exists


def first_line(exc: BaseException) -> str:
    """The gist of an exception: its first sentence, or its type when it has no message."""
    text = str(exc).strip()
    return text.splitlines()[0].split(". ")[0][:200] if text else type(exc).__name__


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
    check_exists(path)
    try:
        return load_file(str(path))
    except SafetensorError as exc:
        raise _corrupted(path, "safetensors", first_line(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None


def _weights_only_detail(exc: pickle.UnpicklingError) -> str:
    found = re.search(r"WeightsUnpickler error:\s*(.+)", str(exc))
    return found.group(1).strip() if found else first_line(exc)


def load_torch_file(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers only, never code.

    Every pickle-format file that freqbench, or a library it hands a file to, reads goes
    through here first. A file that is not a plain-tensor pickle (Python objects whose
    unpickling could run code, or no PyTorch file at all) is refused; a truncated one is
    reported as such. Both are UserErrors.
    """
    path = Path(path)
    check_exists(path)
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
        raise _corrupted(path, "PyTorch", f"{type(exc).__name__}: {first_line(exc)}") from None


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
