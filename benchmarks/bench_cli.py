"""How long `freqbench --help` and a mistyped command take, next to `python -c "import torch"`
(the cost they avoid).

All run as fresh processes from this interpreter, alternately, 7 times each; the medians and
their ratios are printed (targets: --help <= 0.5, a mistake said <= 0.2: every name, path and
option is checked before torch is imported, freqbench.preflight). Also times `freqbench list
metrics` and `freqbench evaluate --help`, which read the metric registry. Run:
python benchmarks/bench_cli.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

RUNS = 7
FREQBENCH = [sys.executable, "-m", "freqbench.cli"]
COMMANDS = {
    "freqbench --help": [sys.executable, "-m", "freqbench.cli", "--help"],
    "freqbench list metrics": [sys.executable, "-m", "freqbench.cli", "list", "metrics"],
    "freqbench evaluate --help": [sys.executable, "-m", "freqbench.cli", "evaluate", "--help"],
    # Mistakes, each exit 2 with its close matches: a zoo entry, a dataset, a timm name, a
    # RobustBench name, a data folder, a recipe.
    "evaluate --model smallcnn-pgd-att": [*FREQBENCH, "evaluate", "--model", "smallcnn-pgd-att"],
    "evaluate --dataset fashionmnist": [
        *FREQBENCH, "evaluate", "--model", "smallcnn-natural", "--dataset", "fashionmnist",
    ],
    "evaluate --model timm:resnet5": [*FREQBENCH, "evaluate", "--model", "timm:resnet5", "--random-init"],
    "evaluate robustbench:...Unlabelled": [
        *FREQBENCH, "evaluate", "--model", "robustbench:cifar10/Linf/Carmon2019Unlabelled",
    ],
    "evaluate --data-dir /nonexistent": [
        *FREQBENCH, "evaluate", "--model", "smallcnn-natural", "--data-dir", "/nonexistent",
    ],
    "train --recipe pgd-att": [
        *FREQBENCH, "train", "--recipe", "pgd-att", "--out", "/nonexistent/run",
    ],
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
}  # fmt: skip


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 2) or "Traceback" in done.stderr:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr}")
    return seconds


def main() -> None:
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(RUNS):
        for name, command in COMMANDS.items():
            times[name].append(wall(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    torch_s = medians['python -c "import torch"']
    print(f"{RUNS} runs each, medians; load average {os.getloadavg()[0]:.2f}")
    for name, seconds in medians.items():
        print(f"  {name:<36} {seconds:6.3f} s   ratio to import torch {seconds / torch_s:5.3f}")


if __name__ == "__main__":
    main()
