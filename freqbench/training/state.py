"""A run's output directory and its resume state.

After every epoch the trainer saves ``state.pt``: model, optimizer, schedule position,
epoch and every random generator's state, as plain tensors and dicts that
``torch.load(weights_only=True)`` reads without unpickling code. A run killed at any point
restarts from the last completed epoch and, on CPU, ends bitwise where an uninterrupted run
would have. Every file is written atomically (temp file, then rename).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from freqbench import atomic
from freqbench.errors import UserError
from freqbench.weights import load_torch_file

STATE_FORMAT = "freqbench-train-state/1"
# Options that may differ when a run is resumed: more epochs extend it; data may move.
RESUMABLE_CHANGES = ("epochs", "data_dir")


class RunGenerators:
    """The run's random streams: data order and mixup on the CPU, recipe randomness on the device.

    The global torch generators are saved too, for models that draw from them (dropout).
    """

    def __init__(self, seed: int, device: torch.device):
        self.device = device
        self.data = torch.Generator().manual_seed(seed)
        self.step = torch.Generator(device=device).manual_seed(seed + 1)

    def state_dict(self) -> dict[str, Any]:
        cuda = torch.cuda.get_rng_state_all() if self.device.type == "cuda" else []
        return {
            "data": self.data.get_state(),
            "step": self.step.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": cuda,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.data.set_state(state["data"])
        self.step.set_state(state["step"])
        torch.set_rng_state(state["torch"])
        if state["cuda"]:
            torch.cuda.set_rng_state_all(state["cuda"])


@dataclass(frozen=True)
class RunDir:
    """The files of one run in ``root``."""

    root: Path

    @property
    def checkpoint(self) -> Path:
        return self.root / "model.safetensors"

    @property
    def state(self) -> Path:
        return self.root / "state.pt"

    @property
    def log(self) -> Path:
        return self.root / "train_log.jsonl"

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    def files(self) -> list[Path]:
        sidecar = self.checkpoint.with_suffix(".json")
        return [self.checkpoint, sidecar, self.state, self.log, self.config]

    def prepare(self, config: dict[str, Any], *, resume: bool, overwrite: bool) -> dict | None:
        """Check the directory against the flags; return the saved state when resuming.

        A directory holding a run (finished or not) is refused unless ``resume`` (continue
        it; the config must match) or ``overwrite`` (delete its run files, nothing else).
        A run stopped before it saved its first state has nothing to continue: ``resume``
        starts it again (the config must still match).
        """
        if resume and overwrite:
            raise UserError("--resume and --overwrite exclude each other: pick one")
        self.check_writable()
        existing = [p for p in self.files() if p.exists()]
        if overwrite:
            for path in existing:
                path.unlink()
            return None
        if resume and self.state.exists():
            state = load_state(self.state)
            _check_same_run(state["config"], config, self.state)
            if state["epoch"] > config["epochs"]:
                raise UserError(
                    f"{self.root} already holds {state['epoch']} epochs, more than the "
                    f"{config['epochs']} asked for"
                )
            return state
        if existing and resume and self.checkpoint.exists():
            raise UserError(
                f"cannot resume {self.root}: it holds a model but no {self.state.name}; "
                "pass --overwrite to start again"
            )
        if existing and resume:
            self._restart(config, existing)
            return None
        if existing:
            what = "a finished run" if self.checkpoint.exists() else "an unfinished run"
            raise UserError(
                f"{self.root} already holds {what} ({', '.join(p.name for p in existing)}); "
                "pass --resume to continue it or --overwrite to start again"
            )
        return None

    def check_writable(self) -> None:
        """A UserError, before any work, when the run's folder cannot be created or written."""
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"output path {self.root} exists and is not a directory")
        atomic.check_folder(self.root, f"output folder {self.root}", "--out")

    def _restart(self, config: dict[str, Any], existing: list[Path]) -> None:
        """Delete what a run stopped in its first epoch left (it saved no state), after
        checking that it was this run."""
        if self.config.exists():
            try:
                saved = json.loads(self.config.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                saved = None  # unreadable: it cannot be compared, and nothing was trained
            if isinstance(saved, dict):
                _check_same_run(saved, config, self.config)
        for path in existing:
            path.unlink()
        for path in self.files():
            atomic.clean_leftovers(path)
        restarting(
            f"{self.root}: the run stopped before its first epoch was saved (no "
            f"{self.state.name}); starting it again from epoch 1"
        )

    def save_state(self, state: dict[str, Any]) -> None:
        with atomic.atomic_path(self.state) as tmp:
            torch.save({"format": STATE_FORMAT, **state}, tmp)

    def append_log(self, record: dict[str, Any]) -> None:
        self._write_log([*self.read_log(), record])

    def read_log(self, up_to_epoch: int | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        records = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        if up_to_epoch is None:
            return records
        return [r for r in records if r["epoch"] <= up_to_epoch]

    def truncate_log(self, epoch: int) -> None:
        """Keep the records of epochs 1..epoch (a kill may leave one the state never saw)."""
        self._write_log(self.read_log(epoch))

    def _write_log(self, records: list[dict[str, Any]]) -> None:
        """JSON lines, rewritten whole and atomically: a kill never leaves half a line."""
        atomic.write_text(self.log, "".join(json.dumps(r) + "\n" for r in records))


def load_state(path: Path) -> dict[str, Any]:
    try:
        state = load_torch_file(path)
    except UserError as exc:
        raise UserError(f"cannot read resume state: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise UserError(f"{path} is not a freqbench training state ({STATE_FORMAT})")
    return state


def restarting(message: str) -> None:
    """Say on stderr that a run starts again (a library call has no other channel)."""
    print(f"freqbench: {message}", file=sys.stderr, flush=True)


def _check_same_run(saved: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    differing = sorted(
        key
        for key in saved.keys() | current.keys()
        if key not in RESUMABLE_CHANGES and saved.get(key) != current.get(key)
    )
    if differing:
        details = "; ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in differing)
        raise UserError(
            f"cannot resume {path}: the config differs from the saved run ({details}); "
            "use --overwrite to start a new run"
        )
