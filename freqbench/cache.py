"""A content-keyed disk cache for arrays that are deterministic and expensive to make (generated
corruption sets), shared by models, processes and Ray workers on one file system.

Each entry is ``<root>/<key[:2]>/<key>.npy`` with a JSON sidecar that holds the key it was
written under, the sha256 of the array's bytes, its shape and dtype, and what it is. The key
is the caller's hash of everything the array depends on. A read checks all of it against the
key it looks up and the shape and dtype its caller expects: an entry copied or linked from
another key, damaged, or of another shape is a miss (removed with one warning that names it,
and made again), never data. Only regular files inside the cache's own folders are opened,
checked before they are opened (a FIFO never blocks, a link is never followed). Entries are
written atomically (a kill leaves none half-written; two processes that make the same entry
write the same bytes). The cache holds at most ``max_bytes`` (``FREQBENCH_CACHE_MAX_GB``, 10
by default): the entries used least recently go first. ``freqbench cache info`` and
``freqbench cache clear`` show and empty it.

Where: ``--cache-dir``, else ``$FREQBENCH_CACHE``, else ``~/.cache/freqbench/arrays``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from freqbench import atomic
from freqbench.bounds import INT64_MAX, NumberRange, from_environment
from freqbench.errors import UserError

if TYPE_CHECKING:  # numpy loads when an array is read or written, not when a size is checked
    import numpy as np

DEFAULT_MAX_GB = 10.0
#: The size limit, in GB: at most what a file system counts (64-bit signed byte counts).
MAX_GB = NumberRange(float, 0, INT64_MAX // 1000**3)
#: The cache's layout: what it makes under its root, and so what ``clear`` removes.
SHARD = re.compile(r"[0-9a-f]{2}")
KEY = re.compile(r"[0-9a-f]{64}")
ENTRY_FILE = re.compile(r"[0-9a-f]{64}\.(npy|json)")
LEFTOVER = re.compile(r"\.[0-9a-f]{64}\.(npy|json)\.[0-9a-f]{8}\.tmp")  # a killed write's
_SIDECAR_BYTES = 1 << 16  # a sidecar is a few hundred bytes; a larger file is not one
_NPY_VERSIONS = {(1, 0): "read_array_header_1_0", (2, 0): "read_array_header_2_0"}


def default_root() -> Path:
    """``$FREQBENCH_CACHE``, else ``~/.cache/freqbench/arrays``."""
    env = os.environ.get("FREQBENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "freqbench" / "arrays"


def default_max_bytes() -> int:
    """``$FREQBENCH_CACHE_MAX_GB`` (a finite number of gigabytes >= 0), in bytes."""
    gigabytes = from_environment("FREQBENCH_CACHE_MAX_GB", DEFAULT_MAX_GB, MAX_GB)
    return int(gigabytes * 1000**3)


def content_key(description: Mapping[str, Any]) -> str:
    """The key of an entry: the sha256 of what it depends on, as canonical JSON."""
    text = json.dumps(description, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    key: str
    path: Path
    size: int
    used: float  # last read or written (the file's mtime)
    what: str


@dataclass
class Cleared:
    """What ``clear`` did: bytes freed, and what of the cache's layout is left, and why."""

    freed: int = 0
    left: list[tuple[Path, str]] = field(default_factory=list)


class Refused(Exception):
    """Why a file of an entry is not read (it is not what the entry should be)."""


class ArrayCache:
    """Arrays by key under ``root`` (see the module docstring)."""

    def __init__(self, root: Path | None = None, max_bytes: int | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.max_bytes = max_bytes if max_bytes is not None else default_max_bytes()

    def _paths(self, key: str) -> tuple[Path, Path]:
        if not KEY.fullmatch(key):
            raise ValueError(f"a cache key is a sha256 in hex (content_key), not {key!r}")
        folder = self.root / key[:2]
        return folder / f"{key}.npy", folder / f"{key}.json"

    def get(
        self,
        key: str,
        shape: Sequence[int | None] | None = None,
        dtype: np.dtype | type | None = None,
    ) -> np.ndarray | None:
        """The array stored under ``key``, or None: absent, or not an entry of this key with
        the ``shape`` (None for a length the caller cannot know) and ``dtype`` asked for, in
        which case it is removed with one warning naming it, to be made again."""
        import numpy as np

        try:
            found = self._read(key, shape, None if dtype is None else np.dtype(dtype))
        except Refused as why:
            self.discard(key, str(why))
            return None
        return found

    def discard(self, key: str, why: str) -> None:
        """Warn that the entry of ``key`` is not used and why, and remove it (a folder in its
        place stays for ``freqbench cache clear``)."""
        self.remove(key)
        array_path, meta_path = self._paths(key)
        folder = array_path.parent  # remove() leaves a link in its place, or a folder in theirs
        stays = (os.path.lexists(folder) and not _is_real_folder(folder)) or any(
            _is_real_folder(p) for p in (array_path, meta_path)
        )
        hint = "; `freqbench cache clear` removes what is in its place" if stays else ""
        warnings.warn(
            f"freqbench: cache entry {array_path} is not used ({why}); it is made again{hint}",
            stacklevel=3,
        )

    def _read(
        self, key: str, shape: Sequence[int | None] | None, dtype: np.dtype | None
    ) -> np.ndarray | None:
        array_path, meta_path = self._paths(key)
        with _folder(array_path.parent) as folder:
            if folder is None:
                return None
            with (
                _regular(folder, meta_path.name, "its sidecar") as meta_file,
                _regular(folder, array_path.name, "its .npy file") as array_file,
            ):
                if meta_file is None or array_file is None:
                    return None  # absent, or a write that has not finished
                meta = _sidecar(meta_file)
                if meta.get("key") != key:
                    raise Refused(
                        "its sidecar is of another key: copied or linked here"
                        if "key" in meta
                        else "its sidecar names no key (written by an older freqbench)"
                    )
                array = _array(array_file, meta, shape, dtype)
                with contextlib.suppress(OSError):  # a cache we only read
                    os.utime(array_file.fileno())  # used now: evicted last
        if hashlib.sha256(array.tobytes()).hexdigest() != meta.get("sha256"):
            raise Refused("its bytes do not match the sha256 of its sidecar: damaged")
        return array

    def put(self, key: str, array: np.ndarray, what: str) -> None:
        """Store ``array`` under ``key`` (``what`` says what it is, for ``cache info``), then
        keep the cache within its size."""
        import numpy as np

        array_path, meta_path = self._paths(key)
        array = np.ascontiguousarray(array)
        with contextlib.suppress(OSError):  # absent: made by the write
            if not stat.S_ISDIR(array_path.parent.lstat().st_mode):
                return  # not a folder of the cache (a link, a file): never written through
        try:
            with atomic.atomic_path(array_path) as tmp, open(tmp, "wb") as f:
                np.save(f, array, allow_pickle=False)
            meta = {
                "key": key,
                "sha256": hashlib.sha256(array.tobytes()).hexdigest(),
                "shape": list(array.shape),
                "dtype": array.dtype.str,
                "what": what,
            }
            atomic.write_json(meta_path, meta)
        except UserError:  # a cache that cannot be written (full disk, no permission) is no cache
            return
        self.evict()

    def remove(self, key: str) -> None:
        """Remove the entry's files, whatever they are, never what a link leads to; a folder
        in their place, or in place of their folder, stays for ``clear``."""
        paths = self._paths(key)
        if not _is_real_folder(paths[0].parent):
            return
        for path in paths:
            with contextlib.suppress(OSError):  # absent, or a folder: left for clear
                if not stat.S_ISDIR(path.lstat().st_mode):
                    path.unlink()

    def entries(self) -> list[Entry]:
        """Every entry (both files regular, the sidecar of its own key), the least recently
        used first."""
        found = []
        for folder_path in _shards(self.root):
            with _folder(folder_path) as folder:
                if folder is None:
                    continue
                for name in sorted(os.listdir(folder)):
                    if not (ENTRY_FILE.fullmatch(name) and name.endswith(".npy")):
                        continue
                    key = name.removesuffix(".npy")
                    try:
                        info = os.stat(name, dir_fd=folder, follow_symlinks=False)
                        with _regular(folder, f"{key}.json", "its sidecar") as meta_file:
                            meta = _sidecar(meta_file) if meta_file is not None else {}
                    except (OSError, Refused):
                        continue
                    if stat.S_ISREG(info.st_mode) and meta.get("key") == key:
                        what = str(meta.get("what", ""))
                        path = folder_path / name
                        found.append(Entry(key, path, info.st_size, info.st_mtime, what))
        return sorted(found, key=lambda e: e.used)

    def size(self) -> int:
        return sum(e.size for e in self.entries())

    def evict(self) -> list[Entry]:
        """Remove the least recently used entries until the cache fits ``max_bytes``."""
        entries, removed = self.entries(), []
        total = sum(e.size for e in entries)
        for entry in entries:
            if total <= self.max_bytes:
                break
            self.remove(entry.key)
            total -= entry.size
            removed.append(entry)
        return removed

    def clear(self) -> Cleared:
        """Remove everything of the cache's layout under its root (entries, sidecars, what
        killed writes left, and anything else with their names, folders too); never a live
        write's file, nothing outside the root, nothing a link leads to. Says what is left."""
        done = Cleared()
        for folder in _shards(self.root, every=True):
            if not _is_real_folder(folder):
                _remove(folder, done)  # a link or file in a folder's place: only the name goes
                continue
            try:
                paths = sorted(folder.iterdir())
            except OSError as exc:
                done.left.append((folder, atomic.describe_os_error(exc, folder, action="")))
                continue
            for path in paths:
                if LEFTOVER.fullmatch(path.name) and _is_regular(path):
                    _remove_leftover(path, done)
                elif ENTRY_FILE.fullmatch(path.name) or LEFTOVER.fullmatch(path.name):
                    _remove(path, done)
            with contextlib.suppress(OSError):  # not empty: files that are not the cache's
                folder.rmdir()
        said = {path for path, _ in done.left}
        done.left += [(p, "written while clear ran") for p in self._layout() if p not in said]
        return done

    def _layout(self) -> list[Path]:
        """Every path under the root that has a name of the cache's layout."""
        found = []
        for folder in _shards(self.root, every=True):
            if not _is_real_folder(folder):
                found.append(folder)
                continue
            with contextlib.suppress(OSError):  # unreadable: said already
                found += [
                    path
                    for path in sorted(folder.iterdir())
                    if ENTRY_FILE.fullmatch(path.name) or LEFTOVER.fullmatch(path.name)
                ]
        return found


def _shards(root: Path, every: bool = False) -> list[Path]:
    """The root's folders named like the cache's (``every``: whatever they are, links too)."""
    try:
        names = sorted(os.listdir(root))
    except (FileNotFoundError, NotADirectoryError):
        return []
    paths = [root / name for name in names if SHARD.fullmatch(name)]
    return paths if every else [p for p in paths if _is_real_folder(p)]


def _is_real_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except FileNotFoundError:
        return False


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def _folder(path: Path) -> Iterator[int | None]:
    """A descriptor of the cache folder ``path`` (None when absent); a link or anything else
    in its place is refused, never followed out of the cache."""
    try:
        mode = path.lstat().st_mode
    except OSError:  # absent, or no root to hold it (a file, no permission): nothing cached
        yield None
        return
    if not stat.S_ISDIR(mode):
        raise Refused(f"{path} is {_kind(mode)}, not a folder of the cache")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise Refused(f"{path} cannot be opened: {exc.strerror}") from None
    try:
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def _regular(folder: int, name: str, what: str) -> Iterator[IO[bytes] | None]:
    """The regular file ``name`` in ``folder`` opened for reading (None when absent). It is
    checked with lstat before it is opened and opened without following a link and without
    blocking, so a FIFO, device, folder or link in its place is refused (saying ``what`` it
    is for), never read."""
    try:
        before = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        yield None
        return
    if not stat.S_ISREG(before.st_mode):
        raise Refused(f"{what} is {_kind(before.st_mode)}, not a regular file")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=folder)
    except FileNotFoundError:  # removed meanwhile
        yield None
        return
    except OSError as exc:
        raise Refused(f"{what} cannot be opened: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        after = os.fstat(fd)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise Refused(f"{what} was replaced while it was opened")
        yield file


def _sidecar(file: IO[bytes]) -> dict[str, Any]:
    text = file.read(_SIDECAR_BYTES + 1)
    try:
        meta = json.loads(text) if len(text) <= _SIDECAR_BYTES else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        raise Refused("its sidecar is not a sidecar's JSON")
    return meta


def _array(
    file: IO[bytes], meta: Mapping[str, Any], shape: Sequence[int | None] | None, dtype: Any
) -> np.ndarray:
    """The .npy array of ``file``, read only once its header agrees with its sidecar and with
    the ``shape`` and ``dtype`` asked for, and its length with its header."""
    import numpy as np

    try:
        version = _NPY_VERSIONS.get(np.lib.format.read_magic(file))
        header = None if version is None else getattr(np.lib.format, version)
        if header is None:
            raise Refused("not an .npy file of a version freqbench writes")
        found_shape, fortran, found_dtype = header(file)
    except ValueError as exc:
        raise Refused(f"not an .npy file: {exc}") from None
    said = (meta.get("shape"), meta.get("dtype"))
    if said != (list(found_shape), found_dtype.str) or fortran or found_dtype.hasobject:
        raise Refused(
            f"its array is {found_dtype.str} {found_shape}, its sidecar says {said[1]} {said[0]}"
        )
    if dtype is not None and found_dtype != dtype:
        raise Refused(f"its dtype is {found_dtype.str}, not the {dtype.str} asked for")
    if shape is not None and (
        len(shape) != len(found_shape)
        or any(want not in (None, got) for want, got in zip(shape, found_shape, strict=True))
    ):
        wanted = tuple("any" if n is None else n for n in shape)
        raise Refused(f"its shape is {found_shape}, not {wanted} as asked for")
    count = int(np.prod(found_shape, dtype=object))
    body = os.fstat(file.fileno()).st_size - file.tell()
    if body != count * found_dtype.itemsize:
        raise Refused(f"its file holds {body} bytes of data, its header {count} values")
    return np.fromfile(file, dtype=found_dtype, count=count).reshape(found_shape)


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISLNK: "a symbolic link",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISDIR: "a folder",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


def _size(path: Path) -> int:
    """Bytes of the regular files at or under ``path``, links not followed."""
    info = path.lstat()
    if stat.S_ISREG(info.st_mode):
        return info.st_size
    if not stat.S_ISDIR(info.st_mode):
        return 0
    total = 0
    for folder, _, files in os.walk(path):  # os.walk follows no links by default
        for name in files:
            with contextlib.suppress(OSError):
                total += _size(Path(folder) / name)
    return total


def _remove(path: Path, done: Cleared) -> None:
    """Remove ``path`` (a folder with what is in it), never what a link leads to."""
    try:
        size = _size(path)
        if _is_real_folder(path):
            shutil.rmtree(path)  # removes links inside, never follows them
        else:
            path.unlink()
        done.freed += size
    except FileNotFoundError:
        pass
    except OSError as exc:
        done.left.append((path, atomic.describe_os_error(exc, path, action="")))


def _remove_leftover(path: Path, done: Cleared) -> None:
    """A killed write's temporary file; one a live write holds is left, and said to be."""
    try:
        size = path.lstat().st_size
        if atomic.remove_unheld(path):
            done.freed += size
        else:
            done.left.append((path, "a write in progress holds it; run clear again after it"))
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return
        done.left.append((path, atomic.describe_os_error(exc, path, action="")))
