"""How long `freqbench --help` takes, next to `python -c "import torch"` (the cost it avoids).

Both run as fresh processes from this interpreter, alternately, 7 times each; the medians and
their ratio are printed (target: ratio <= 0.5). Also times `freqbench list metrics` and
`freqbench evaluate --help`, which read the metric registry. Run: python benchmarks/bench_cli.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

RUNS = 7
COMMANDS = {
    "freqbench --help": [sys.executable, "-m", "freqbench.cli", "--help"],
    "freqbench list metrics": [sys.executable, "-m", "freqbench.cli", "list", "metrics"],
    "freqbench evaluate --help": [sys.executable, "-m", "freqbench.cli", "evaluate", "--help"],
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
}


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(RUNS):
        for name, command in COMMANDS.items():
            times[name].append(wall(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    torch_s = medians['python -c "import torch"']
    print(f"{RUNS} runs each, medians; load average {os.getloadavg()[0]:.2f}")
    for name, seconds in medians.items():
        print(f"  {name:<28} {seconds:6.3f} s   ratio to import torch {seconds / torch_s:5.3f}")


if __name__ == "__main__":
    main()
