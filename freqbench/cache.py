"""A content-keyed disk cache for arrays that are deterministic and expensive to make (generated
corruption sets), shared by models, processes and Ray workers on one file system.

Each entry is ``<root>/<key[:2]>/<key>.npy`` with a JSON sidecar that holds the sha256 of the
array's bytes, its shape and dtype, and what it is. The key is the caller's hash of everything
the array depends on; the content hash is checked on every read, so a damaged entry is
deleted and made again, never used. Entries are written atomically (a kill leaves none
half-written; two processes that make the same entry write the same bytes). The cache holds
at most ``max_bytes`` (``FREQBENCH_CACHE_MAX_GB``, 10 by default): the entries used least
recently go first. ``freqbench cache info`` and ``freqbench cache clear`` show and empty it.

Where: ``--cache-dir``, else ``$FREQBENCH_CACHE``, else ``~/.cache/freqbench/arrays``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from freqbench import atomic
from freqbench.errors import UserError

DEFAULT_MAX_GB = 10.0


def default_root() -> Path:
    """``$FREQBENCH_CACHE``, else ``~/.cache/freqbench/arrays``."""
    env = os.environ.get("FREQBENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "freqbench" / "arrays"


def default_max_bytes() -> int:
    text = os.environ.get("FREQBENCH_CACHE_MAX_GB", str(DEFAULT_MAX_GB))
    try:
        gigabytes = float(text)
    except ValueError:
        raise UserError(f"FREQBENCH_CACHE_MAX_GB must be a number, got '{text}'") from None
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


class ArrayCache:
    """Arrays by key under ``root`` (see the module docstring)."""

    def __init__(self, root: Path | None = None, max_bytes: int | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.max_bytes = max_bytes if max_bytes is not None else default_max_bytes()

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.npy", folder / f"{key}.json"

    def get(self, key: str) -> np.ndarray | None:
        """The array stored under ``key``, or None (absent, or damaged and now removed)."""
        array_path, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            array = np.load(array_path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if hashlib.sha256(array.tobytes()).hexdigest() != meta.get("sha256"):
            self.remove(key)
            return None
        with contextlib.suppress(OSError):  # evicted meanwhile, or a cache we only read
            os.utime(array_path)  # used now: evicted last
        return array

    def put(self, key: str, array: np.ndarray, what: str) -> None:
        """Store ``array`` under ``key`` (``what`` says what it is, for ``cache info``), then
        keep the cache within its size."""
        array_path, meta_path = self._paths(key)
        try:
            with atomic.atomic_path(array_path) as tmp, open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(array), allow_pickle=False)
            meta = {
                "sha256": hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest(),
                "shape": list(array.shape),
                "dtype": str(array.dtype),
                "what": what,
            }
            atomic.write_json(meta_path, meta)
        except UserError:  # a cache that cannot be written (full disk, no permission) is no cache
            return
        self.evict()

    def remove(self, key: str) -> None:
        for path in self._paths(key):
            path.unlink(missing_ok=True)

    def entries(self) -> list[Entry]:
        """Every entry, the least recently used first."""
        found = []
        for array_path in self.root.glob("??/*.npy"):
            meta_path = array_path.with_suffix(".json")
            try:
                info = array_path.stat()
                what = json.loads(meta_path.read_text(encoding="utf-8")).get("what", "")
            except (OSError, ValueError):
                continue
            found.append(Entry(array_path.stem, array_path, info.st_size, info.st_mtime, what))
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

    def clear(self) -> int:
        """Remove every entry, and what killed writes left (never a live write's file);
        returns the bytes freed."""
        freed = 0
        for entry in self.entries():
            self.remove(entry.key)
            freed += entry.size
        for folder in self.root.glob("??"):
            sizes = {}
            for leftover in folder.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    sizes[leftover] = leftover.stat().st_size
            freed += sum(sizes.get(p, 0) for p in atomic.clean_temp_files(folder, ".*.tmp"))
        return freed
