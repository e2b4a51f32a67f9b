"""A per-row lock, so that several ``freqbench grid`` processes can share one grid.

Each process takes a row with an exclusive ``flock`` on ``<runs>/<row>.lock``; the kernel
drops the lock when its process exits or is killed, so a kill never leaves a stale lock.
Run one process per core to use them all.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def row_lock(path: Path, wait: bool = False) -> Iterator[bool]:
    """Yield True while this process holds the lock, False when another process does.

    With ``wait``, block until the lock is free (always yields True).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def is_locked(path: Path) -> bool:
    """Whether another process holds the row now (for status listings)."""
    if not path.is_file():
        return False
    with row_lock(path) as held:
        return not held
