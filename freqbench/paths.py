"""Where a freqbench repository keeps things, relative to its root (the current folder)."""

import errno
import os
from pathlib import Path

from freqbench.errors import UserError

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


def check_exists(path: Path) -> None:
    """A checkpoint file that is there: a missing one, a link to nothing or a link that loops
    is a UserError that says which (checked before anything heavy is imported)."""
    if not path.exists():
        if path.is_symlink():
            try:
                path.stat()
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise UserError(
                        f"checkpoint {path} is a symbolic link that loops: point it at the file"
                    ) from None
            raise UserError(f"checkpoint {path} is a symbolic link to nothing: check the link")
        raise UserError(f"checkpoint {path} does not exist: check the path")
    if not path.is_file():
        raise UserError(f"checkpoint {path} is not a file")
