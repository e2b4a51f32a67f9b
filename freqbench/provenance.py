"""Where a number came from: package versions and the git commit of the code that made it."""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from pathlib import Path

import torch

import freqbench


@lru_cache(maxsize=1)
def git_sha() -> str | None:
    """The commit of the freqbench checkout, with ``-dirty`` when it has uncommitted changes."""
    root = Path(freqbench.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def versions() -> dict[str, str | None]:
    import numpy

    return {
        "freqbench": freqbench.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "git_sha": git_sha(),
    }
