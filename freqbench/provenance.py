"""Where a number came from: package versions and the commit of the code that made it."""

from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path

import freqbench


def _git_dir(root: Path) -> Path | None:
    """``root/.git``, following the ``gitdir:`` line of a worktree's ``.git`` file."""
    dot_git = root / ".git"
    if dot_git.is_dir():
        return dot_git
    if dot_git.is_file():
        line = dot_git.read_text(encoding="utf-8").strip()
        if line.startswith("gitdir:"):
            return (root / line.removeprefix("gitdir:").strip()).resolve()
    return None


def _read_ref(git_dir: Path, ref: str) -> str | None:
    """A ref's commit from its loose file or ``packed-refs``, in this git dir or the common one."""
    dirs = [git_dir]
    common = git_dir / "commondir"
    if common.is_file():
        dirs.append((git_dir / common.read_text(encoding="utf-8").strip()).resolve())
    for directory in dirs:
        loose = directory / ref
        if loose.is_file():
            return loose.read_text(encoding="utf-8").strip()
        packed = directory / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(encoding="utf-8").splitlines():
                sha, _, name = line.partition(" ")
                if name == ref:
                    return sha
    return None


@lru_cache(maxsize=1)
def git_sha() -> str | None:
    """The commit checked out where freqbench's code lies, read from the ``.git`` files
    (no git command runs); None for an installed package."""
    root = Path(freqbench.__file__).resolve().parent.parent
    try:
        git_dir = _git_dir(root)
        if git_dir is None:
            return None
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
        return (
            _read_ref(git_dir, head.removeprefix("ref:").strip())
            if head.startswith("ref:")
            else head
        )
    except OSError:
        return None


def versions() -> dict[str, str | None]:
    import numpy
    import torch

    return {
        "freqbench": freqbench.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "git_sha": git_sha(),
    }
