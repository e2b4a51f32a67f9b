"""Committing what a command produced: the one place freqbench runs git, at the user's request
(``--commit``). The library only says which files changed."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from freqbench.errors import UserError


def _git(*args: str) -> subprocess.CompletedProcess:
    for attempt in range(10):  # another git command may hold the index for a moment
        result = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        if result.returncode == 0 or "index.lock" not in result.stderr:
            return result
        time.sleep(1 + attempt)
    raise UserError(f"git {args[0]} failed: the index stayed locked ({result.stderr.strip()})")


def committer(say: Callable[[str], None]) -> Callable[[str, list[Path]], None]:
    """A callback that commits ``files`` with ``message`` (nothing when none of them changed)."""

    def commit(message: str, files: list[Path]) -> None:
        names = [str(f) for f in files]
        added = _git("add", "--", *names)
        if added.returncode != 0:
            raise UserError(f"git add failed: {added.stderr.strip()}")
        if _git("diff", "--cached", "--quiet", "--", *names).returncode == 0:
            return
        done = _git("commit", "--quiet", "-m", message, "--", *names)
        if done.returncode != 0:
            raise UserError(f"git commit failed: {done.stderr.strip()}")
        say(f"committed: {message}")

    return commit
