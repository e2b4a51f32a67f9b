"""Turn a finished training run (or a smoothing transform) into a zoo entry beside the grid file.

A trained row's checkpoint is copied to ``weights/<row>.safetensors`` (+ sidecar) and its
entry states the resolved training config and the wall time; a smoothed row's entry points at
its source's weights and adds the ``smooth_kernels`` transform. Files are written atomically,
weights before the entry, so an entry never names weights that are not there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from freqbench import atomic
from freqbench.atomic import sha256_of
from freqbench.grid.spec import GridRow, GridSpec
from freqbench.grid.toml_writer import dumps
from freqbench.paths import display_path
from freqbench.training.state import RunDir
from freqbench.zoo import load_entry

WEIGHTS_DIR = "weights"
# Resolved options that say how a row was trained (paths, device and logging left out).
TRAINING_KEYS = (
    "epochs", "batch_size", "lr", "schedule", "momentum", "weight_decay", "seed", "eps",
    "bass_mode", "bass_p", "label_shuffle", "mixup_alpha", "max_train_examples",
)  # fmt: skip


def entry_path(spec: GridSpec, row: GridRow) -> Path:
    return spec.path.parent / f"{row.name}.toml"


def weights_path(spec: GridSpec, name: str) -> Path:
    return spec.path.parent / WEIGHTS_DIR / f"{name}.safetensors"


def _header(spec: GridSpec) -> str:
    return f"Written by `freqbench grid {display_path(spec.path)}`: change the grid file, not this one."


def _metadata(spec: GridSpec, footnote: str) -> dict[str, Any]:
    return {
        "authors": spec.metadata.get("authors", ""),
        "venue": spec.metadata.get("venue", ""),
        "link": spec.metadata.get("link", ""),
        "additional_data": False,
        "footnote": footnote,
    }


def _grid_words(spec: GridSpec) -> str:
    """The footnote's opening, with the hardware the grid file's [metadata] names."""
    hardware = spec.metadata.get("hardware")
    return f"Reference grid on {hardware}" if hardware else "Reference grid"


def _budget(config: dict[str, Any]) -> str:
    options = config.get("recipe_options", {})
    attack = f", PGD-{options['steps']} step {options['step_size']:g}" if "steps" in options else ""
    return f"{config['epochs']} epoch{'s' if config['epochs'] != 1 else ''}, batch {config['batch_size']}{attack}"


def training_seconds(run: RunDir) -> float:
    """Wall time of the run's epochs (training and per-epoch evaluation), from its log."""
    return sum(e["seconds"] + e.get("eval_seconds", 0.0) for e in run.read_log())


def trained_entry(
    spec: GridSpec, row: GridRow, config: dict[str, Any], sha256: str, seconds: float
) -> dict[str, Any]:
    """The zoo entry of a trained row, from its run's resolved config."""
    training = {k: config[k] for k in TRAINING_KEYS if config.get(k) is not None}
    training["recipe_options"] = config.get("recipe_options", {})
    training["wall_seconds"] = round(seconds, 1)
    return {
        "name": row.name,
        "dataset": spec.dataset,
        "architecture": spec.architecture,
        "recipe": row.recipe,
        "bass_mode": config.get("bass_mode"),
        "weights": {"path": f"{WEIGHTS_DIR}/{row.name}.safetensors", "sha256": sha256},
        "training": training,
        "metadata": _metadata(spec, f"{_grid_words(spec)}: {_budget(config)}."),
    }


def write_entry(spec: GridSpec, row: GridRow, entry: dict[str, Any]) -> Path:
    """Write the entry atomically, then read it back through the schema check."""
    path = entry_path(spec, row)
    atomic.write_text(path, dumps(entry, _header(spec)))
    load_entry(path)
    return path


def publish_trained(spec: GridSpec, row: GridRow, run_dir: Path) -> Path:
    """Copy the run's checkpoint into the zoo and write the row's entry."""
    run = RunDir(run_dir)
    config = json.loads(run.config.read_text())
    target = weights_path(spec, row.name)
    for source, dest in (
        (run.checkpoint, target),
        (run.checkpoint.with_suffix(".json"), target.with_suffix(".json")),
    ):
        with atomic.atomic_path(dest) as tmp:
            shutil.copyfile(source, tmp)
    entry = trained_entry(spec, row, config, sha256_of(target), training_seconds(run))
    return write_entry(spec, row, entry)


def publish_smoothed(spec: GridSpec, row: GridRow) -> Path:
    """Write the entry of a smoothed copy of an already published row."""
    assert row.source is not None and row.smooth is not None
    source = load_entry(spec.path.parent / f"{row.source}.toml")
    entry = {
        "name": row.name,
        "dataset": spec.dataset,
        "architecture": spec.architecture,
        "recipe": row.recipe,
        "bass_mode": source.bass_mode,
        "weights": dict(source.weights),
        "transform": {"smooth_kernels": row.smooth},
        "training": {"source": row.source},
        "metadata": _metadata(
            spec,
            f"{row.source} with Gaussian smoothing (rho {row.smooth['rho']:g}) of its "
            f"{row.smooth['layers']} convolution kernels; no training (Wang et al., CVPR 2020).",
        ),
    }
    return write_entry(spec, row, entry)
