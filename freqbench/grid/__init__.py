"""Grids of models: a file lists what to train and evaluate; ``freqbench grid`` does the rest."""

from freqbench.grid.runner import GridRunner
from freqbench.grid.spec import GridRow, GridSpec, load_grid
from freqbench.grid.status import GridPaths, RowState, finished_record, grid_states

__all__ = [
    "GridPaths",
    "GridRow",
    "GridRunner",
    "GridSpec",
    "RowState",
    "finished_record",
    "grid_states",
    "load_grid",
]
