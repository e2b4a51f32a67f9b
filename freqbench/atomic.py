"""Write files so that a kill never leaves a half-written one: temp file in the same folder, then rename.

The temporary file is ``.<name>.<random>.tmp`` beside the target; before the rename it gets
the mode any new file gets (0666 less the umask: 0644 usually), whatever the writer did, so
every generated file has the same permissions. A writer holds an advisory lock on its
temporary file while it writes; the next write of the same target deletes the temporary
files nobody holds, which killed writes left. A folder that cannot be written (a file where
a folder should be, no permission, a full disk) is a :class:`~freqbench.errors.UserError`
that names the path.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from freqbench.errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: leftovers are kept, never raced
    fcntl = None  # type: ignore[assignment]

_REASONS = {
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a file is in the way where a folder should be",
    errno.EISDIR: "it is a folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENAMETOOLONG: "the name is too long",
}
_PATH_ERRORS = {errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS}


def describe_os_error(exc: OSError, path: str | Path | None = None, action: str = "write") -> str:
    """One line for an OSError: the path, what is wrong with it in plain words.

    ``action`` ("write", or "" when the failing operation is unknown) starts the line.
    """
    where = path if path is not None else (exc.filename or "a file")
    reason = _REASONS.get(exc.errno or 0) or exc.strerror or str(exc)
    hint = "; choose another path" if exc.errno in _PATH_ERRORS else ""
    return f"{f'cannot {action} ' if action else ''}{where}: {reason}{hint}"


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (no race with threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temp_pattern(path: Path) -> str:
    return f".{glob.escape(path.name)}.*.tmp"


def clean_leftovers(path: str | Path) -> list[Path]:
    """Delete the temporary files of killed writes of ``path`` (never one that is being written)."""
    path = Path(path)
    return clean_temp_files(path.parent, _temp_pattern(path))


def clean_temp_files(folder: Path, pattern: str) -> list[Path]:
    """Delete the temporary files matching ``pattern`` in ``folder`` that no live writer holds."""
    removed: list[Path] = []
    if fcntl is None or not folder.is_dir():
        return removed
    for leftover in folder.glob(pattern):
        if not leftover.name.endswith(".tmp"):
            continue
        with contextlib.suppress(OSError):
            if remove_unheld(leftover):
                removed.append(leftover)
    return removed


def remove_unheld(path: Path) -> bool:
    """Delete the regular temporary file ``path`` unless a live writer holds it (False then,
    and for anything that is not a regular file, which a writer never leaves: it is never
    opened, so a FIFO cannot block). An OSError when it cannot be removed."""
    if fcntl is None or not stat.S_ISREG(path.lstat().st_mode):
        return False
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: a live writer's file
            return False
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)  # closing releases the lock


def check_folder(folder: Path, what: str = "", option: str = "path") -> None:
    """A UserError, before any work, when ``folder`` cannot be made or written: its nearest
    existing ancestor is a file, or is not writable. ``what`` names the file it is for."""
    ancestor = folder
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    target = what or folder
    if not ancestor.is_dir():
        raise UserError(
            f"cannot write {target}: {ancestor} is a file, not a folder; choose another {option}"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(
            f"cannot write {target}: {ancestor} is not writable (permission denied); "
            f"choose another {option}"
        )


def _make_parent(path: Path) -> None:
    check_folder(path.parent, str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(describe_os_error(exc, path)) from None


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, empty temporary file beside ``path`` (mode 0666 less the umask), locked."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise UserError(describe_os_error(exc, path)) from None
        if fcntl is not None:
            # New, so nobody holds it: never blocks. A file system without flock leaves it
            # unlocked, and the cleaners there, unable to lock either, keep every leftover.
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX)
        return fd, tmp


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    The writer may open and truncate the temporary file, or replace it; a failure (or a
    kill) never leaves ``path`` half-written, and the temporary file goes away.
    """
    path = Path(path)
    _make_parent(path)
    clean_leftovers(path)
    fd, tmp = _create_temp(path)
    try:
        try:
            yield tmp
        except OSError as exc:
            if exc.errno in _REASONS and exc.errno not in (errno.ENOTDIR, errno.EEXIST):
                raise UserError(describe_os_error(exc, path)) from None
            raise
        try:
            # Some writers (safetensors) replace the file with one of their own, mode 0600.
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        except OSError as exc:
            raise UserError(describe_os_error(exc, path)) from None
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=True) + "\n")


def sha256_of(path: str | Path) -> str:
    """The sha256 of a file's bytes, read a MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
