"""Where each row of a grid stands: published, evaluated (a record that counts), running.

A record counts as the row's result only when it is of the published weights, follows the
standard protocol, holds every standard metric and measured its filter shift against the
grid's reference row; the runner and the findings use the same test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freqbench.errors import UserError
from freqbench.evaluate import ALL_METRICS
from freqbench.grid.lock import is_locked
from freqbench.grid.publish import entry_path
from freqbench.grid.spec import GridRow, GridSpec
from freqbench.records import read_json
from freqbench.training.state import RunDir
from freqbench.zoo import load_entry


@dataclass(frozen=True)
class GridPaths:
    records: Path  # leaderboards/, records go to <records>/<dataset>/
    runs: Path = Path("runs/grid")  # training runs, locks and the ledger (not committed)


@dataclass(frozen=True)
class RowState:
    row: GridRow
    trained: bool
    evaluated: bool
    running: bool
    detail: str

    @property
    def done(self) -> bool:
        return self.trained and self.evaluated


def record_path(spec: GridSpec, paths: GridPaths, row: GridRow) -> Path:
    return paths.records / spec.dataset / f"{row.name}.json"


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


def _counts(record: Any, row: GridRow, sha256: str) -> bool:
    if not isinstance(record, dict):
        return False
    metrics = record.get("metrics", {})
    shift = metrics.get("filters", {}).get("distribution_shift", {})
    return (
        record.get("model", {}).get("checkpoint_sha256") == sha256
        and record.get("protocol", {}).get("standard") is True
        and set(ALL_METRICS) <= set(metrics)
        and (row.reference is None or shift.get("reference") == row.reference)
    )


def finished_record(spec: GridSpec, paths: GridPaths, row: GridRow) -> dict[str, Any] | None:
    """The row's record when it counts as the row's result, else None."""
    return _finished_record(spec, paths, row, _trained(spec, row))


def _finished_record(
    spec: GridSpec, paths: GridPaths, row: GridRow, sha256: str | None
) -> dict[str, Any] | None:
    path = record_path(spec, paths, row)
    if sha256 is None or not path.is_file():
        return None
    try:
        record = read_json(path)
    except UserError:  # unreadable: not a result
        return None
    return record if _counts(record, row, sha256) else None


def _run_progress(paths: GridPaths, row: GridRow) -> str:
    epochs = len(RunDir(paths.runs / row.name).read_log())
    if row.config is None or not epochs:
        return "not started"
    return f"training: {epochs}/{row.config.epochs} epochs saved"


def row_state(spec: GridSpec, paths: GridPaths, row: GridRow) -> RowState:
    sha256 = _trained(spec, row)
    evaluated = _finished_record(spec, paths, row, sha256) is not None
    running = is_locked(paths.runs / f"{row.name}.lock")
    if evaluated:
        detail = "done"
    elif sha256 is not None:
        detail = "trained, not evaluated"
    else:
        detail = _run_progress(paths, row) if row.trained else "not smoothed yet"
    if running:
        detail += " (running in another process)"
    return RowState(row, sha256 is not None, evaluated, running, detail)


def grid_states(spec: GridSpec, paths: GridPaths) -> list[RowState]:
    return [row_state(spec, paths, row) for row in spec.rows]
