"""Grids of models: a file lists what to train and evaluate; ``freqbench grid`` does the rest."""

from freqbench.grid.runner import GridPaths, GridRunner, RowState, grid_states
from freqbench.grid.spec import GridRow, GridSpec, load_grid

__all__ = ["GridPaths", "GridRow", "GridRunner", "GridSpec", "RowState", "grid_states", "load_grid"]
