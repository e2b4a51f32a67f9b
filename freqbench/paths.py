"""Where a freqbench repository keeps things, relative to its root (the current folder)."""

import os
from pathlib import Path

ZOO_DIR = "model_zoo"  # model_zoo/<dataset>/<name>.toml, weights/, configs/, grid.toml
GRID_FILE = "grid.toml"
RECORDS_DIR = "leaderboards"  # leaderboards/<dataset>/<name>.json and the generated pages
SCRATCH_RECORDS_DIR = "runs/records"  # where `freqbench evaluate` writes by default
#: A records folder holding this file is a published leaderboard (its page's metric list):
#: `submit` and `grid` write records there, `evaluate` does not.
LEADERBOARD_FILE = "leaderboard.toml"


def display_path(path: Path) -> str:
    """``path`` relative to the current folder when it lies below it: shorter, and clickable.
    A link is shown as the link (one that loops cannot be resolved)."""
    here = Path.cwd()
    for base in (here, here.resolve()):
        try:
            return str(Path(os.path.abspath(path)).relative_to(base))
        except ValueError:
            continue
    return str(path)
