"""Show or empty the array cache: the generated corruption sets every evaluation shares.

Each generated (corruption, severity) cell of a test set is made once and kept, so that the
next model evaluated on the same images reads it instead of making it again. `info` lists
what is kept and how much room it takes (the least recently used go first once it holds
more than FREQBENCH_CACHE_MAX_GB, a number of gigabytes >= 0, 10 by default); `clear`
removes everything of the cache's layout (it is made again when needed): the entries, what
killed writes left, and anything else named like them, and exits 1 naming what it could not
remove.
"""

from __future__ import annotations

import argparse

from freqbench.cli.options import add_cache_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("info", "clear"), help="info (default) or clear",
                        nargs="?", default="info")  # fmt: skip
    add_cache_argument(parser)


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def run(args: argparse.Namespace) -> int:
    from freqbench.cache import ArrayCache

    cache = ArrayCache(args.cache_dir)
    if args.action == "clear":
        cleared = cache.clear()
        print(f"removed {_size(cleared.freed)} from {cache.root}")
        for path, why in cleared.left:
            print(f"left {path}: {why}")
        return 1 if cleared.left else 0
    entries = cache.entries()
    for entry in entries:
        print(f"{_size(entry.size):>9}  {entry.what}")
    total = sum(e.size for e in entries)
    print(
        f"{len(entries)} entries, {_size(total)} of at most {_size(cache.max_bytes)} in {cache.root}"
    )
    return 0
