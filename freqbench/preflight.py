"""Mistakes said in a second: every name, path and option that can be checked without torch is
checked before torch, timm or robustbench is imported (they take seconds to import; a typo
should not).

The checks read the registries (datasets, metrics, recipes, architectures, the model zoo),
timm's names from their snapshot (:func:`freqbench.architectures.external.timm_names`) and
RobustBench's from freqbench's snapshot of its published entries (:mod:`freqbench.published`),
and look at the folders named. Each error keeps its close-match suggestions. What needs the
model itself (its dataset, its weights) is still checked when it loads.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from pathlib import Path

from freqbench import atomic
from freqbench.architectures import describe_architecture
from freqbench.architectures.external import (
    ROBUSTBENCH_PREFIX,
    TIMM_PREFIX,
    UnknownExternalNameError,
    check_timm_name,
    parse_robustbench_name,
)
from freqbench.data import get_dataset_info
from freqbench.data.base import check_data_dir
from freqbench.evaluate import check_unpublished
from freqbench.metrics import parse_metrics
from freqbench.paths import check_exists
from freqbench.recipes import get_recipe
from freqbench.zoo import find_entry

#: The robustbench release whose zoo freqbench's snapshot covers entry for entry
#: (tests/test_published.py): only then is a name missing from the snapshot a typo.
ROBUSTBENCH_RELEASE = "1.1.1"
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth")


def check_model_name(ref: str, *, weights: str | None = None, random_init: bool = False) -> None:
    """The model reference names something that exists: a checkpoint file, a zoo entry, a timm
    model (and tag), a RobustBench entry, or an architecture (with ``weights`` or
    ``random_init``)."""
    if weights is not None:
        check_exists(Path(weights))
    if ref.startswith(TIMM_PREFIX):
        check_timm_name(ref)
    elif ref.startswith(ROBUSTBENCH_PREFIX):
        _check_robustbench_name(ref)
    elif weights is not None or random_init:
        describe_architecture(ref)  # an unknown one: close matches, `freqbench list architectures`
    elif Path(ref).suffix in CHECKPOINT_SUFFIXES or Path(ref).is_file():
        check_exists(Path(ref))
    else:
        find_entry(ref)  # an unknown entry (close matches), or an architecture named alone


def _check_robustbench_name(ref: str) -> None:
    """``robustbench:<dataset>/<threat_model>/<Name>`` against the published snapshot, where
    it covers the installed robustbench's zoo."""
    from freqbench.published import published_entries

    dataset, threat_model, name = parse_robustbench_name(ref)
    try:
        installed = importlib.metadata.version("robustbench")
    except importlib.metadata.PackageNotFoundError:
        return  # the load says what is missing
    if installed != ROBUSTBENCH_RELEASE:
        return
    entries = published_entries()
    boards = sorted({f"{e.dataset}/{e.threat_model}" for e in entries})
    board = f"{dataset}/{threat_model}"
    if board not in boards:
        raise UnknownExternalNameError(
            "RobustBench dataset/threat model",
            board,
            boards,
            f"RobustBench publishes {', '.join(boards)}",
        )
    names = sorted(
        e.name for e in entries if (e.dataset, e.threat_model) == (dataset, threat_model)
    )
    if name not in names:
        raise UnknownExternalNameError(
            "RobustBench model", name, names,
            f"RobustBench's {board} board has {len(names)} models, listed at https://robustbench.github.io",
        )  # fmt: skip


def check_request(
    model: str,
    *,
    weights: str | None = None,
    random_init: bool = False,
    dataset: str | None = None,
    metrics: str | Sequence[str] | None = None,
    data_dir: str | Path | None = None,
    out_dir: str | Path | None = None,
) -> None:
    """What an evaluation names, checked before anything heavy is imported."""
    if dataset is not None:
        get_dataset_info(dataset)
    if metrics is not None:
        parse_metrics(metrics)
    check_model_name(model, weights=weights, random_init=random_init)
    if data_dir is not None:
        check_data_dir(Path(data_dir), "--data-dir")
    if out_dir is not None:
        atomic.check_folder(Path(out_dir), option="--out")
        check_unpublished(Path(out_dir))


def check_training(
    *, architecture: str, recipe: str, dataset: str, data_dir: str | Path | None, out: Path
) -> None:
    """What a training run names, checked before anything heavy is imported."""
    get_dataset_info(dataset)
    get_recipe(recipe)
    if architecture.startswith(TIMM_PREFIX):
        check_timm_name(architecture)
    elif not architecture.startswith(ROBUSTBENCH_PREFIX):  # the trainer refuses those itself
        describe_architecture(architecture)
    if data_dir is not None:
        check_data_dir(Path(data_dir), "--data-dir")
    atomic.check_folder(out, option="--out")
