"""The ``--device`` option: ``auto`` (the default) is CUDA when torch sees a GPU, else the CPU."""

from __future__ import annotations

from freqbench.errors import UserError


def resolve_device(device: str) -> str:
    """``auto`` resolved where the work runs; ``cuda`` without a GPU is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device} was asked for, but torch sees no CUDA device")
    try:
        torch.device(device)
    except RuntimeError:
        raise UserError(f"--device must be auto, cpu or cuda[:N], got '{device}'") from None
    return device
