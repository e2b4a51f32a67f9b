"""Time the README's first hour as a new user runs it: every command of the block, verbatim,
one after another in a fresh folder, with the numbers each prints that the README quotes.

Not a speed comparison (the files named bench_*.py are): this is where the README's "time
per step" column comes from. Run it on an idle machine, from the repository root, with the
real Fashion-MNIST installed:

    python benchmarks/first_hour.py            # prints a Markdown table of steps and times
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- first-hour: start -->", "<!-- first-hour: end -->"
#: What each step prints that the README quotes: a label, and the pattern that finds it.
QUOTED = {
    "test acc": re.compile(r"^test acc \([^)]*\)\s+(\S+)", re.M),
    "clean": re.compile(r"^clean accuracy\s+(\S+)", re.M),
    "AutoAttack": re.compile(r"^AutoAttack \S+ eps=\S+\s+(\S+)\s+\(n=(\d+)\)", re.M),
    "degenerate": re.compile(r"^DEGENERATE\s+(.+)$", re.M),
}


def first_hour_commands(readme: Path = ROOT / "README.md") -> list[str]:
    text = readme.read_text(encoding="utf-8")
    block = text[text.index(START) + len(START) : text.index(END)]
    return [
        line.split("#")[0].strip() for line in block.splitlines() if line.startswith("freqbench ")
    ]


def main() -> int:
    rows, total = [], 0.0
    with tempfile.TemporaryDirectory(prefix="first-hour-") as folder:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for command in first_hour_commands():
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "freqbench.cli", *shlex.split(command)[1:]],
                cwd=folder, env=env, capture_output=True, text=True,
            )  # fmt: skip
            seconds = time.perf_counter() - start
            total += seconds
            if done.returncode != 0:
                print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
                return done.returncode
            quoted = "; ".join(
                f"{label} {' '.join(match.groups())}"
                for label, pattern in QUOTED.items()
                for match in pattern.finditer(done.stdout)
            )
            rows.append((command, seconds, quoted))
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print("| step | time | what it printed |\n|---|---|---|")
    for command, seconds, quoted in rows:
        print(f"| `{command}` | {seconds:.0f} s | {quoted} |")
    print(f"| all | {total:.0f} s ({total / 60:.1f} min) | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
