"""Resume states of the blocks a run computes (AutoAttack saves one after every batch), and
who owns them.

A run owns its state files while it lives: it holds an exclusive lock (``flock``) on its owner
file ``.<record>.<token>.owner`` in the record's folder and names each state file after its
block and its token, ``.<record>.<metric>.<key>[.<i>-of-<n>].<token>.state.json``. Another run
never touches a file whose owner still holds the lock. A file whose owner is gone (a killed
run) is taken over by the next run that computes the same block, which resumes from it; the
other files of gone owners are deleted. Only the local executor writes states: a Ray
worker's disk may be another machine's.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import secrets
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no file is ever judged abandoned
    fcntl = None  # type: ignore[assignment]

STATE_SUFFIX = ".state.json"
OWNER_SUFFIX = ".owner"
#: What follows ``.<record>.`` in its files' names. Record names may hold dots, so a glob for
#: record ``m`` also finds record ``m.x``'s files: each name is matched whole.
_TOKEN = r"[0-9a-f]{12}"
_OWN_STATE = re.compile(rf"\w+\.[0-9a-f]{{16}}(\.\d+-of-\d+)?\.{_TOKEN}{re.escape(STATE_SUFFIX)}")
_OWN_OWNER = re.compile(rf"{_TOKEN}{re.escape(OWNER_SUFFIX)}")


def _alive(owner_file: Path) -> bool:
    """Whether a live process holds the owner file's lock (a missing file has no owner)."""
    if fcntl is None:
        return True
    try:
        fd = os.open(owner_file, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


class StateFiles:
    """The state files one run of one record writes, and the clean-up of abandoned ones."""

    def __init__(self, folder: Path, record: str) -> None:
        self.folder, self.record = folder, record
        self.token = secrets.token_hex(6)
        self._fd: int | None = None

    def _owner_file(self, token: str) -> Path:
        return self.folder / f".{self.record}.{token}{OWNER_SUFFIX}"

    def _token_of(self, state: Path) -> str:
        return state.name.removesuffix(STATE_SUFFIX).rsplit(".", 1)[-1]

    def _hold(self) -> None:
        if self._fd is not None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._owner_file(self.token)
        while self._fd is None:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            if fcntl is not None:
                with contextlib.suppress(OSError):  # no flock here: every file counts as owned
                    fcntl.flock(fd, fcntl.LOCK_EX)
            try:  # a cleaner may have removed the file between the open and the lock
                held = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                held = False
            if held:
                self._fd = fd
            else:
                os.close(fd)

    def _files(self, kind: re.Pattern[str]) -> list[Path]:
        """This record's state or owner files (not those of a record whose name extends it)."""
        prefix = f".{self.record}."
        return [
            path
            for path in sorted(self.folder.glob(f"{glob.escape(prefix)}*"))
            if kind.fullmatch(path.name.removeprefix(prefix))
        ]

    def _abandoned(self, states: list[Path]) -> list[Path]:
        return [
            path
            for path in states
            if self._token_of(path) != self.token
            and not _alive(self._owner_file(self._token_of(path)))
        ]

    def path_for(self, block: str) -> Path:
        """This run's state file of ``block`` (``.<record>.<metric>.<key>[.<shard>]``): an
        abandoned state of the same block is taken over, so the computation resumes."""
        self._hold()
        mine = self.folder / f"{block}.{self.token}{STATE_SUFFIX}"
        same_block = [p for p in self._files(_OWN_STATE) if p.name.startswith(f"{block}.")]
        for path in self._abandoned(same_block):
            with contextlib.suppress(FileNotFoundError):  # another run took it first
                os.rename(path, mine)
                break
        return mine

    def clean(self) -> None:
        """Delete the state and owner files of this record that no live run owns."""
        if not self.folder.is_dir():
            return
        for path in self._abandoned(self._files(_OWN_STATE)):
            path.unlink(missing_ok=True)
        for path in self._files(_OWN_OWNER):
            token = path.name.removesuffix(OWNER_SUFFIX).rsplit(".", 1)[-1]
            if token != self.token and not _alive(path):
                path.unlink(missing_ok=True)

    def release(self, block: str) -> None:
        """Delete this run's state files of a finished ``block``."""
        for path in self.folder.glob(f"{glob.escape(block)}*.{self.token}{STATE_SUFFIX}"):
            path.unlink(missing_ok=True)

    def close(self) -> None:
        """Give up ownership: the owner file goes, and with it the lock."""
        if self._fd is None:
            return
        self._owner_file(self.token).unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None
