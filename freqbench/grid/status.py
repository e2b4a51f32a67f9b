"""Where each row of a grid stands: published, evaluated (a record that counts), running.

A row's metric block is done when the row's record holds it with the key the evaluator would
give it now: the published weights, the metric's version, and the standard protocol with the
grid's reference row for the filter shift. So a new metric, or a new version of one, leaves
every row with just that block to evaluate. The runner and the findings use the same test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freqbench.errors import UserError
from freqbench.grid.publish import entry_path
from freqbench.grid.spec import GridRow, GridSpec
from freqbench.metrics import MetricSpec, default_metrics
from freqbench.protocol import Protocol, block_key
from freqbench.records import Review, read_json, review
from freqbench.training.state import RunDir
from freqbench.zoo import load_entry


@dataclass(frozen=True)
class GridPaths:
    records: Path  # leaderboards/, records go to <records>/<dataset>/
    runs: Path = Path("runs/grid")  # training runs and the ledger (not committed)
    # Where the dataset's records are read from when not <records>/<dataset>/ (the folder
    # `freqbench evaluate --out` wrote, for `findings`).
    folder: Path | None = None


@dataclass(frozen=True)
class RowState:
    row: GridRow
    trained: bool
    evaluated: bool
    detail: str

    @property
    def done(self) -> bool:
        return self.trained and self.evaluated


def record_path(spec: GridSpec, paths: GridPaths, row: GridRow) -> Path:
    return (paths.folder or paths.records / spec.dataset) / f"{row.name}.json"


def _trained(spec: GridSpec, row: GridRow) -> str | None:
    """The sha256 of the row's published weights, or None when the row is not published."""
    path = entry_path(spec, row)
    if not path.is_file():
        return None
    try:
        entry = load_entry(path)
    except UserError:
        return None
    weights = entry.weights_path
    return entry.sha256 if weights is not None and weights.is_file() else None


def row_protocol(spec: GridSpec, row: GridRow) -> Protocol:
    """The grid's protocol (standard, or quick), with its reference row for the filter shift."""
    base = Protocol.quick() if spec.protocol == "quick" else Protocol.standard()
    return base.replace(reference=row.reference)


def _read(path: Path) -> Review | None:
    if not path.is_file():
        return None
    try:
        return review(read_json(path))
    except UserError:  # unreadable: not a result
        return None


def stale_blocks(
    spec: GridSpec, paths: GridPaths, row: GridRow, sha256: str, metrics: list[MetricSpec]
) -> list[str]:
    """The ``metrics`` whose block the row's record lacks, holds with another key, or
    cannot justify."""
    checked = _read(record_path(spec, paths, row))
    resolved = row_protocol(spec, row).resolve(spec.dataset)
    return [
        m.name
        for m in metrics
        if checked is None
        or not checked.justified(m.name)
        or checked.data["evaluations"][m.name]["key"]
        != block_key(sha256, spec.dataset, m, resolved)
    ]


def finished_record(
    spec: GridSpec, paths: GridPaths, row: GridRow, metrics: list[MetricSpec] | None = None
) -> dict[str, Any] | None:
    """The row's record when every block of ``metrics`` (the default ones unless named) is
    done, else None."""
    sha256 = _trained(spec, row)
    if sha256 is None or stale_blocks(spec, paths, row, sha256, metrics or default_metrics()):
        return None
    checked = _read(record_path(spec, paths, row))
    return checked.data if checked is not None else None


def _run_progress(paths: GridPaths, row: GridRow) -> str:
    epochs = len(RunDir(paths.runs / row.name).read_log())
    if row.config is None or not epochs:
        return "not started"
    return f"training: {epochs}/{row.config.epochs} epochs saved"


def row_state(spec: GridSpec, paths: GridPaths, row: GridRow) -> RowState:
    sha256 = _trained(spec, row)
    metrics = default_metrics()
    stale = stale_blocks(spec, paths, row, sha256, metrics) if sha256 is not None else []
    evaluated = sha256 is not None and not stale
    if evaluated:
        detail = "done"
    elif sha256 is not None and len(stale) == len(metrics):
        detail = "trained, not evaluated"
    elif sha256 is not None:
        detail = f"trained; to evaluate: {', '.join(stale)}"
    else:
        detail = _run_progress(paths, row) if row.trained else "not smoothed yet"
    return RowState(row, sha256 is not None, evaluated, detail)


def grid_states(spec: GridSpec, paths: GridPaths) -> list[RowState]:
    return [row_state(spec, paths, row) for row in spec.rows]
