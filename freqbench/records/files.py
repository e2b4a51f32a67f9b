"""Record files on disk: reading any file safely, finding a folder's records, and updating one
record from several processes without losing a block.

A record is read whole, so its size is bounded (:data:`MAX_RECORD_BYTES`; large arrays belong
in artifacts beside it) and so is its nesting (:data:`MAX_DEPTH`): whatever a file holds, a
reader gets a record's data or a :class:`~freqbench.errors.UserError` that names the file and
what is wrong with it. Writers go through :func:`update`: under an exclusive lock on the
record's folder (``flock``), it re-reads what is on disk *now*, applies the change and
replaces the file atomically, so concurrent runs that each add blocks to one record keep
every block.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freqbench import atomic
from freqbench.errors import UserError
from freqbench.paths import LEADERBOARD_FILE

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: writes are atomic but not serialised
    fcntl = None  # type: ignore[assignment]

#: The largest record file read or written: the committed records hold about 15 kB.
MAX_RECORD_BYTES = 2 * 1024 * 1024
#: The deepest nesting of objects and lists a record may have (the committed ones: 4).
MAX_DEPTH = 32


def _depth(data: Any) -> int:
    """How deeply ``data`` nests objects and lists, counted without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, level)
            children = value.values() if isinstance(value, dict) else value
            stack += [(child, level + 1) for child in children if isinstance(child, dict | list)]
    return deepest


def read_json(path: str | Path, what: str = "record") -> Any:
    """Parse a JSON file (NaN allowed) of at most :data:`MAX_RECORD_BYTES` bytes and
    :data:`MAX_DEPTH` levels; anything else, or a file that cannot be read, is a UserError
    naming the file."""
    path = Path(path)
    try:
        if path.is_dir():
            raise UserError(f"{path}: is a folder, not a {what} file; move it out of the way")
        size = path.stat().st_size
        if size > MAX_RECORD_BYTES:
            raise UserError(
                f"{path}: {size:,} bytes, more than a {what} may hold ({MAX_RECORD_BYTES:,}); "
                "large arrays belong in artifacts beside the record"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {_reason(exc)}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}): "
            f"not a {what} file"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        data = None  # nested past the parser's own limit; reported below
    if (data is None and text.strip() != "null") or _depth(data) > MAX_DEPTH:
        raise UserError(f"{path}: nested deeper than {MAX_DEPTH} levels: not a {what} file")
    return data


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symbolic link that loops"
    if exc.errno == errno.ENOENT and exc.filename and Path(exc.filename).is_symlink():
        return "a symbolic link to nothing"
    return exc.strerror or str(exc)


def record_files(folder: Path) -> list[Path]:
    """Every record of one dataset folder: its ``*.json`` entries, minus hidden ones (resume
    states, locks, half-written temporary files). A folder or a broken link named like a
    record is listed too, so that every reader reports it the same way."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


def dataset_records_folder(records_dir: str | Path, dataset: str) -> Path:
    """Where ``dataset``'s records lie under ``records_dir``: its per-dataset folder
    (``leaderboards/<dataset>/``, where ``submit`` writes), else ``records_dir`` itself when
    it holds records (the folder ``freqbench evaluate --out`` wrote). Without either, the
    per-dataset folder, for the caller to report."""
    root = Path(records_dir)
    folder = root / dataset
    if record_files(folder) or not record_files(root):
        return folder
    return root


def dataset_folders(records_dir: str | Path) -> list[Path]:
    """The dataset folders of ``records_dir`` that hold at least one record, or that are a
    published leaderboard (:data:`~freqbench.paths.LEADERBOARD_FILE`), whose page shows
    RobustBench's published rows before any record is there."""
    root = Path(records_dir)
    if not root.is_dir():
        return []
    return [
        p
        for p in sorted(root.iterdir())
        if p.is_dir() and (record_files(p) or (p / LEADERBOARD_FILE).is_file())
    ]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the lock of the record's folder: other processes that update a record in it wait
    until it is released (a read, a merge and a rename: milliseconds). The folder itself is
    locked, so no lock file is left beside the records."""
    atomic.check_folder(path.parent, str(path), option="--out")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        if fcntl is not None:
            with contextlib.suppress(OSError):  # a file system without flock: unserialised
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@dataclass(frozen=True)
class Unreadable:
    """What :func:`update` hands its change for a file that cannot be read as JSON."""

    problem: str


def update(
    path: Path,
    change: Callable[[Any], dict[str, Any]],
    written: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Replace the record at ``path`` with ``change(what is on disk now)``, holding its lock
    from the read to the rename; returns what was written. ``change`` gets the parsed JSON,
    None when there is no file, or :class:`Unreadable` when the file cannot be read.
    ``written`` runs once the record is on disk, still under the lock (files that go with it)."""
    with locked(path):
        current: Any = None
        if path.exists() or path.is_symlink():
            try:
                current = read_json(path)
            except UserError as exc:
                current = Unreadable(str(exc))
        data = change(current)
        text = json.dumps(data, indent=2, allow_nan=True) + "\n"
        if len(text.encode()) > MAX_RECORD_BYTES:
            raise UserError(
                f"{path}: the record would hold {len(text.encode()):,} bytes, more than "
                f"{MAX_RECORD_BYTES:,}: a metric returned too many numbers"
            )
        atomic.write_text(path, text)
        if written is not None:
            written()
    return data
