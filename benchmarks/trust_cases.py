"""Issue 26's hostile cases, re-run against the installed freqbench, each outcome classified.

Run ``python benchmarks/trust_cases.py [--only PATTERN] [--timeout SECONDS]`` with the
python of the virtualenv whose freqbench is measured (``.venv/bin/python``). Every input is
built in a temporary folder (nothing in the checkout is written: the committed leaderboard
and checkpoints are only copied from); every command is ``python -m freqbench.cli`` in a
fresh process on the CPU, with no data-loader workers and a cache of its own.

Each case is one attack of the issue's "Why" list (the fidelity checks are not cases; a FIFO
and a folder named .JPEG, from its point 5, are), and its outcome is exactly one class,
decided from the evidence the case collects:

- hang: a command still running after ``--timeout`` seconds (its process group is killed);
- traceback: "Traceback" in a command's output, or a Python exception of freqbench's (or
  torch's, timm's) own code shown as a failed block (``ValueError: ... (cache.py:46)``):
  an exception that escaped, not a message about the input;
- wrong number: exit 0 and a number printed that differs from the number the same run gives
  on clean input (the copied cache cells: the mean of a run on a clean cache), or that
  cannot be a count over n (accuracy 0.99 of 20 images);
- lost data: a committed file whose content exists nowhere afterwards, or a finished block
  that vanished although its run exited 0 without a word;
- silent nonsense: the hostile input accepted (exit 0, a record written, a plugin
  registered) where its result means nothing, an exit without any message, or a command
  that does not do its job (``cache clear`` leaving every entry);
- clear: a non-zero exit with one freqbench line that says what was wrong, or the correct
  behaviour (e.g. a damaged cache entry made again, the right mean printed, with a warning).

It prints one row per case (id, class, seconds, evidence: the exit code and the first line
of the error, or what was checked) as the case ends, then the counts per class. Measured:
383 s and 500 s for the 42 cases on 2 CPU cores shared with other work (load average 5 to
6), the 90 s of the case that hangs included.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import importlib.util
import json
import os
import pickle
import re
import resource
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
ZOO_WEIGHTS = REPO / "model_zoo" / "fashion-mnist" / "weights"
LEADERBOARD = REPO / "leaderboards" / "fashion-mnist"
CLASSES = ("clear", "traceback", "wrong number", "lost data", "hang", "silent nonsense")
#: Each command's private memory (RLIMIT_DATA): a model "too large to allocate" fails here
#: even on a machine that overcommits memory, instead of eating it.
MEMORY_LIMIT = 16 * 1024**3
#: A timm model that takes 160 px images (a tiny ViT: its patch embedding asserts the size).
VIT_160 = "timm:test_vit.r160_in1k"
CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression",
)  # fmt: skip
NOISE = CORRUPTIONS[:3]
N = "20"  # images per evaluation
CORRUPTION_LINE = re.compile(r"corruptions \([^)]*\)\s+([\d.]+)%\s+(?:\(n=\d+\)\s+)?\[([^\]]*)\]")
CLEAN_LINE = re.compile(r"clean accuracy\s+([\d.]+)%")
#: A progress line ("corruptions: 2/75 chunks (3%), ...") and a warning of another package.
PROGRESS = re.compile(r"\b\d+/\d+ \w+ \(\d+%\)")
PYTHON_WARNING = re.compile(r"\.py:\d+: \w*Warning:|^warnings\.warn\(")
#: An exception named with its place in the code, as evaluate shows a block that raised.
ESCAPED = re.compile(r"\b([A-Za-z_.]*(?:Error|Exception|Exit))\b: .*\(([\w.-]+\.py):\d+\)")


class HarnessError(Exception):
    """The case could not be set up: it says nothing about freqbench's handling of it."""


@dataclass
class Run:
    """One finished (or killed) command."""

    argv: list[str]
    rc: int | None  # None: killed at the timeout
    out: str
    err: str
    seconds: float

    @property
    def hung(self) -> bool:
        return self.rc is None

    @property
    def text(self) -> str:
        return f"{self.out}\n{self.err}"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class Harness:
    """Runs freqbench in fresh processes and builds (once each) the inputs cases share."""

    def __init__(self, root: Path, timeout: float) -> None:
        self.root, self.timeout = root, timeout
        self.env = {
            **os.environ,
            "FREQBENCH_DATA_WORKERS": "0",
            "FREQBENCH_CACHE": str(root / "default-cache"),
            "CUDA_VISIBLE_DEVICES": "",
        }
        for name in ("PYTHONPATH", "FREQBENCH_CACHE_MAX_GB"):
            self.env.pop(name, None)
        self._made: dict[str, object] = {}
        self._count = 0

    def fresh(self, tag: str) -> Path:
        self._count += 1
        folder = self.root / f"{self._count:03d}-{tag}"
        folder.mkdir(parents=True)
        return folder

    def start(
        self, *args: object, env: dict[str, str] | None = None, site: Path | None = None
    ) -> tuple[subprocess.Popen, list[str], float]:
        argv = [sys.executable, "-m", "freqbench.cli", *map(str, args)]
        environment = {**self.env, **(env or {})}
        if site is not None:
            environment["PYTHONPATH"] = str(site)
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.root,
            env=environment, start_new_session=True, preexec_fn=_limit_memory,
        )  # fmt: skip
        return process, argv, time.perf_counter()

    def wait(self, started: tuple[subprocess.Popen, list[str], float]) -> Run:
        process, argv, start = started
        remaining = max(1.0, self.timeout - (time.perf_counter() - start))
        try:
            out, err = process.communicate(timeout=remaining)
            rc: int | None = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the session this harness started
            out, err = process.communicate()
            rc = None
        return Run(argv, rc, out, err, time.perf_counter() - start)

    def freqbench(self, *args: object, **kwargs) -> Run:
        return self.wait(self.start(*args, **kwargs))

    def python(self, code: str, *args: object) -> Run:
        """A snippet in a fresh process of this python (the installed freqbench)."""
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
            cwd=self.root, env=self.env, timeout=self.timeout, preexec_fn=_limit_memory,
        )  # fmt: skip
        return Run([code], done.returncode, done.stdout, done.stderr, time.perf_counter() - start)

    def once(self, key: str, make: Callable[[], object]) -> object:
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]

    # --- shared inputs -------------------------------------------------------------------

    def checkpoint(self, name: str) -> Path:
        """A copy of a committed Fashion-MNIST checkpoint (with its sidecar)."""

        def make() -> Path:
            folder = self.root / "checkpoints"
            folder.mkdir(exist_ok=True)
            for suffix in (".safetensors", ".json"):
                shutil.copy2(ZOO_WEIGHTS / f"{name}{suffix}", folder / f"{name}{suffix}")
            return folder / f"{name}.safetensors"

        return self.once(f"checkpoint:{name}", make)

    def corruption_args(self, cache: Path, out: Path) -> list[object]:
        return [
            "evaluate", "--model", self.checkpoint("smallcnn-natural-1ep"), "--metrics",
            "corruptions", "--n-examples", N, "--device", "cpu", "--cache-dir", cache, "--out", out,
        ]  # fmt: skip

    def baseline(self) -> tuple[Path, str, str]:
        """The cache one run on a clean cache fills, and the mean and families it printed."""

        def make() -> tuple[Path, str, str]:
            folder = self.fresh("baseline")
            run = self.freqbench(*self.corruption_args(folder / "cache", folder / "records"))
            found = CORRUPTION_LINE.search(run.out)
            if run.rc != 0 or not found:
                raise HarnessError(f"the clean-cache run failed: {describe(run)}")
            return folder / "cache", found.group(1), found.group(2)

        return self.once("baseline", make)

    def cache_copy(self) -> Path:
        cache, _, _ = self.baseline()
        copy = self.fresh("cache") / "cache"
        shutil.copytree(cache, copy, symlinks=True)
        return copy

    def heatmap_record(self) -> tuple[Path, list[object]]:
        """A record folder (``<root>/fashion-mnist``) with a heat-map block, and its command."""

        def make() -> tuple[Path, list[object]]:
            folder = self.fresh("heatmap") / "fashion-mnist"
            args = [
                "evaluate", "--model", self.checkpoint("smallcnn-natural-1ep"), "--metrics",
                "fourier_heatmap", "--n-examples", N, "--heatmap-n-examples", N, "--device", "cpu",
                "--out", folder,
            ]  # fmt: skip
            run = self.freqbench(*args)
            if run.rc != 0:
                raise HarnessError(f"the heat-map run failed: {describe(run)}")
            return folder, args

        return self.once("heatmap", make)

    def cifar10(self) -> tuple[Path, np.ndarray, np.ndarray]:
        """A CIFAR-10 folder in the official pickle layout (20 test images), its test images
        (HWC uint8) and labels. Each image marks its label: in its first row, the red pixel
        of column ``label`` is 255 and those of the other nine columns 0 (see LABEL_READER)."""

        def make() -> tuple[Path, np.ndarray, np.ndarray]:
            root = self.fresh("cifar10")
            folder = root / "cifar-10-batches-py"
            folder.mkdir()
            rng = np.random.default_rng(0)
            for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
                images = rng.integers(0, 200, size=(int(N), 32, 32, 3), dtype=np.uint8)
                labels = rng.integers(0, 10, size=int(N))
                images[:, 0, :10, 0] = 0
                images[np.arange(int(N)), 0, labels, 0] = 255
                data = images.transpose(0, 3, 1, 2).reshape(int(N), 3072)  # the official rows
                with open(folder / name, "wb") as f:
                    pickle.dump(
                        {b"data": data, b"labels": labels.tolist(), b"batch_label": b"x"}, f
                    )
            return root, images, labels

        return self.once("cifar10", make)

    def label_reader(self) -> Path:
        """A site with the architecture plugin ``hostile`` that reads the label marked in a
        CIFAR image: accuracy 100% with the true labels, whatever the corruption files hold
        beside the same images."""
        return self.once(
            "label-reader",
            lambda: plugin_site(self, "freqbench.architectures", LABEL_READER, "build"),
        )


def describe(run: Run) -> str:
    """The exit code and the line that says what happened."""
    if run.hung:
        progress = _lines(run.err)
        return f"killed after {run.seconds:.0f} s" + (f"; last: {progress[-1]}" if progress else "")
    return f"exit {run.rc}: {message(run) or 'no message'}"


def _said(run: Run) -> list[str]:
    """stderr without progress lines and Python's warnings from other packages."""
    return [
        line
        for line in _lines(run.err)
        if not PROGRESS.search(line) and not PYTHON_WARNING.search(line)
    ]


def _errors(run: Run) -> list[str]:
    """The lines that report an error: ``error:`` lines, and failed blocks."""
    return [line for line in _said(run) if "error:" in line.lower()] + [
        line for line in _lines(run.out) if line.startswith("FAILED")
    ]


def message(run: Run) -> str:
    """The first error line, else the last line freqbench said on stderr."""
    if "Traceback (most recent call last)" in run.text:
        return (_lines(run.err) or _lines(run.out))[-1]
    said = _said(run)
    return next(iter(_errors(run)), said[-1] if said else "")


def warnings_of(run: Run) -> list[str]:
    return [
        line
        for line in _said(run)
        if ("warning" in line.lower() or line.startswith("freqbench: ")) and "error:" not in line
    ]


def crashed(run: Run) -> tuple[str, str] | None:
    """``(hang | traceback, evidence)`` when the run hung or an exception escaped."""
    if run.hung:
        return "hang", describe(run)
    if "Traceback (most recent call last)" in run.text:
        return "traceback", f"exit {run.rc}: Traceback ... {message(run)}"
    for line in _errors(run):
        found = ESCAPED.search(line)
        if found and not found.group(2).startswith("hostile_"):
            return "traceback", f"exit {run.rc}: {line} (an exception of {found.group(2)})"
    return None


def refused(run: Run, accepted: str) -> tuple[str, str]:
    """For input that must be refused: clear when it was, in one line."""
    crash = crashed(run)
    if crash:
        return crash
    if run.rc == 0:
        return "silent nonsense", f"exit 0: {accepted}"
    line = message(run)
    if not line:
        return "silent nonsense", f"exit {run.rc} and no message at all"
    return "clear", f"exit {run.rc}: {line}"


def first_crash(*runs: Run) -> tuple[str, str] | None:
    for run in runs:
        crash = crashed(run)
        if crash:
            return crash
    return None


# --- cache ---------------------------------------------------------------------------------


def cache_cells(cache: Path) -> dict[str, tuple[Path, Path]]:
    """``'gaussian_noise 5' -> (array file, sidecar)``, from the sidecars' ``what``."""
    cells = {}
    for sidecar in cache.rglob("*.json"):
        try:
            what = json.loads(sidecar.read_text()).get("what", "")
        except (OSError, ValueError, AttributeError):
            continue
        array = sidecar.with_suffix(".npy")
        if array.is_file():
            cells[what.rsplit(": ", 1)[-1]] = (array, sidecar)
    if len(cells) != 75:
        raise HarnessError(f"expected the 75 cells in {cache}, found {len(cells)}")
    return cells


def noise_cells(cache: Path) -> tuple[tuple[Path, Path], list[tuple[Path, Path]]]:
    """gaussian_noise 1, and the other 14 noise cells."""
    cells = cache_cells(cache)
    source = cells["gaussian_noise 1"]
    others = [cells[f"{n} {s}"] for n in NOISE for s in range(1, 6) if (n, s) != (NOISE[0], 1)]
    return source, others


def judge_mean(h: Harness, run: Run) -> tuple[str, str]:
    """An evaluate of the corruptions against the clean cache's mean."""
    _, mean, families = h.baseline()
    crash = crashed(run)
    if crash:
        return crash
    if run.rc != 0:
        return "clear", describe(run)
    found = CORRUPTION_LINE.search(run.out)
    if not found:
        return "silent nonsense", "exit 0 but no corruption accuracy printed"
    warned = warnings_of(run)
    said = f"warning: {warned[0]}" if warned else "no warning"
    if found.group(1) != mean or found.group(2) != families:
        return "wrong number", (
            f"exit 0, {said}; printed {found.group(1)}% [{found.group(2)}], a clean cache "
            f"gives {mean}% [{families}]"
        )
    return "clear", f"exit 0, the clean cache's {mean}% printed; {said}"


def case_cache_copied_cell(h: Harness) -> tuple[str, str]:
    cache = h.cache_copy()
    source, others = noise_cells(cache)
    for array, sidecar in others:
        shutil.copyfile(source[0], array)
        shutil.copyfile(source[1], sidecar)
    return judge_mean(h, h.freqbench(*h.corruption_args(cache, h.fresh("records"))))


def case_cache_symlinked_cell(h: Harness) -> tuple[str, str]:
    cache = h.cache_copy()
    source, others = noise_cells(cache)
    for pair in others:
        for path, target in zip(pair, source, strict=True):
            path.unlink()
            path.symlink_to(target.resolve())
    return judge_mean(h, h.freqbench(*h.corruption_args(cache, h.fresh("records"))))


def case_cache_fifo_entry(h: Harness) -> tuple[str, str]:
    cache = h.cache_copy()
    array, _ = cache_cells(cache)["gaussian_noise 3"]
    array.unlink()
    os.mkfifo(array)
    return judge_mean(h, h.freqbench(*h.corruption_args(cache, h.fresh("records"))))


def _max_gb_info(value: str) -> Callable[[Harness], tuple[str, str]]:
    def case(h: Harness) -> tuple[str, str]:
        run = h.freqbench("cache", "info", "--cache-dir", h.cache_copy(),
                          env={"FREQBENCH_CACHE_MAX_GB": value})  # fmt: skip
        crash = crashed(run)
        if crash:
            return crash
        if run.rc != 0:
            return "clear", describe(run)
        last = (_lines(run.out) or [""])[-1]
        if value.lower() == "nan":
            return "silent nonsense", f"exit 0, nan taken as a size: {last}"
        return "clear", f"exit 0, {value} GB taken as a finite size: {last}"

    return case


def _max_gb_evaluate(value: str) -> Callable[[Harness], tuple[str, str]]:
    def case(h: Harness) -> tuple[str, str]:
        args = h.corruption_args(h.cache_copy(), h.fresh("records"))
        run = h.freqbench(*args, env={"FREQBENCH_CACHE_MAX_GB": value})
        cls, evidence = judge_mean(h, run)
        if cls == "clear" and run.rc == 0 and value.lower() == "nan":
            return "silent nonsense", f"nan taken as a cache size; {evidence}"
        return cls, evidence

    return case


def case_cache_clear_folder_entry(h: Harness) -> tuple[str, str]:
    cache = h.cache_copy()
    entries = len(cache_cells(cache))
    array, sidecar = next(iter(cache_cells(cache).values()))
    key = "ab" + "c" * 62
    folder = cache / key[:2] / f"{key}{array.suffix}"
    folder.mkdir(parents=True)
    shutil.copyfile(sidecar, folder.with_suffix(".json"))
    os.utime(folder, (978307200, 978307200))  # 2001: the least recently used, cleared first
    run = h.freqbench("cache", "clear", "--cache-dir", cache)
    crash = crashed(run)
    if crash:
        return crash
    left = sum(1 for p in cache.rglob("*.npy") if p.is_file() and not p.is_symlink())
    said = describe(run)
    if left:
        return "silent nonsense", f"{said}; {left} of the {entries} entries are still there"
    if folder.exists() and run.rc == 0 and folder.name not in run.text:
        return "silent nonsense", f"{said}; the folder {folder.name} is left and not named"
    where = "left and named" if folder.exists() else "removed"
    return "clear", f"{said}; every entry removed, the folder {where}"


# --- records -------------------------------------------------------------------------------


def case_block_count(h: Harness) -> tuple[str, str]:
    folder = h.fresh("count") / "fashion-mnist"
    args = ["evaluate", "--model", h.checkpoint("smallcnn-natural-1ep"), "--metrics", "clean",
            "--n-examples", N, "--device", "cpu", "--out", folder]  # fmt: skip
    first = h.freqbench(*args)
    record = folder / "smallcnn-natural-1ep.json"
    if first.rc != 0 or not record.is_file():
        raise HarnessError(f"the clean run failed: {describe(first)}")
    data = json.loads(record.read_text())
    true = 100 * data["metrics"]["clean"]["accuracy"]
    data["metrics"]["clean"]["accuracy"] = 0.99
    data["model_info"]["clean_acc"] = 99.0
    record.write_text(json.dumps(data, indent=2))
    again = h.freqbench(*args)
    board = h.freqbench("leaderboard", "--records-dir", folder.parent, "--dataset", "fashion-mnist")
    crash = first_crash(again, board)
    if crash:
        return crash
    shown = CLEAN_LINE.search(again.out)
    printed = shown.group(1) if shown else None
    on_board = board.rc == 0 and re.search(r"\|\s*99\.00 ±", board.out) is not None
    reused = next((line for line in _lines(again.out) if line.startswith("reused:")), "")
    if (again.rc == 0 and printed == "99.00") or on_board:
        return "wrong number", (
            f"evaluate exit {again.rc}: clean accuracy {printed}% (n={N}) ({reused or 'ran'}), "
            f"0.99 x {N} = {0.99 * int(N):g} images; leaderboard exit {board.rc}"
            f"{' shows 99.00' if on_board else ''}; the block measured {true:.2f}%"
        )
    return "clear", (
        f"evaluate {describe(again)} (printed {printed}%, measured {true:.2f}%); "
        f"leaderboard {describe(board)}"
    )


def _heatmap_swap(write: Callable[[Path, Harness], None]) -> Callable[[Harness], tuple[str, str]]:
    def case(h: Harness) -> tuple[str, str]:
        base, args = h.heatmap_record()
        folder = h.fresh("heatmap-swap") / "fashion-mnist"
        shutil.copytree(base, folder)
        args = [folder if a == base else a for a in args]
        record = json.loads((folder / "smallcnn-natural-1ep.json").read_text())
        array = folder / record["artifacts"]["heatmap_npy"]
        write(array, h)
        swapped = array.read_bytes()
        validate = h.freqbench("validate", folder)
        board = h.freqbench("leaderboard", "--records-dir", folder.parent, "--dataset",
                            "fashion-mnist")  # fmt: skip
        again = h.freqbench(*args)
        crash = first_crash(validate, board, again)
        if crash:
            return crash
        reused = any(
            line.startswith("reused:") and "fourier_heatmap" in line for line in _lines(again.out)
        )
        kept = array.is_file() and array.read_bytes() == swapped
        passed = [
            *(["evaluate reused the block (exit 0)"] if again.rc == 0 and reused and kept else []),
            *(["validate exit 0"] if validate.rc == 0 else []),
            *(["leaderboard exit 0"] if board.rc == 0 else []),
        ]
        if passed:
            return "silent nonsense", "; ".join(passed)
        return "clear", (
            f"validate {describe(validate)}; leaderboard {describe(board)}; evaluate "
            f"{describe(again)}{', re-ran the block' if not reused else ''}"
        )

    return case


def _save_3x3(path: Path, h: Harness) -> None:
    np.save(path, np.full((3, 3), 0.5))


def _save_other_models(path: Path, h: Harness) -> None:
    shutil.copyfile(LEADERBOARD / "smallcnn-mart.heatmap.npy", path)


def _save_object_array(path: Path, h: Harness) -> None:
    np.save(path, np.array([{"error": 0.5}, None], dtype=object), allow_pickle=True)


def _save_text(path: Path, h: Harness) -> None:
    path.write_text("not an array\n")


def case_replace_into_leaderboard(h: Harness) -> tuple[str, str]:
    folder = h.fresh("leaderboard") / "fashion-mnist"
    shutil.copytree(LEADERBOARD, folder)
    if not (folder / "leaderboard.toml").is_file():
        raise HarnessError(f"{LEADERBOARD} has no leaderboard.toml")
    before = {p.relative_to(folder): sha256(p) for p in folder.rglob("*") if p.is_file()}
    own = {rel: d for rel, d in before.items() if rel.name.startswith("smallcnn-natural.")}
    run = h.freqbench(
        "evaluate", "--replace", "--out", folder, "--name", "smallcnn-natural", "--model",
        h.checkpoint("smallcnn-mart"), "--metrics", "clean", "--n-examples", N, "--device", "cpu",
    )  # fmt: skip
    crash = crashed(run)
    if crash:
        return crash
    present = {sha256(p) for p in folder.rglob("*") if p.is_file()}
    lost = sorted(str(rel) for rel, digest in own.items() if digest not in present)
    others = sorted(
        str(rel)
        for rel, digest in before.items()
        if rel not in own and (not (folder / rel).is_file() or sha256(folder / rel) != digest)
    )
    touched = f"; other files changed: {', '.join(others)}" if others else ""
    if lost:
        record = folder / "smallcnn-natural.json"
        now = json.loads(record.read_text()) if record.is_file() else {}
        blocks = sorted(now.get("metrics", {}))
        return "lost data", (
            f"exit {run.rc}; gone: {', '.join(lost)}; smallcnn-natural.json now holds "
            f"{blocks} (n={now.get('protocol', {}).get('n_examples')}){touched}"
        )
    if run.rc == 0:
        kept = ".replaced" if (folder / ".replaced").exists() else "in place"
        return "silent nonsense", (
            f"exit 0: wrote into a folder holding leaderboard.toml (old files kept {kept}){touched}"
        )
    return "clear", f"{describe(run)}; all {len(own)} files of the record kept{touched}"


def case_concurrent_clean(h: Harness) -> tuple[str, str]:
    folder = h.fresh("concurrent") / "fashion-mnist"

    def args(n: str) -> list[object]:
        return ["evaluate", "--model", h.checkpoint("smallcnn-natural-1ep"), "--metrics",
                "clean", "--n-examples", n, "--device", "cpu", "--out", folder]  # fmt: skip

    first, second = h.start(*args("20")), h.start(*args("30"))
    runs = {"20": h.wait(first), "30": h.wait(second)}
    crash = first_crash(*runs.values())
    if crash:
        return crash
    record = folder / "smallcnn-natural-1ep.json"
    if not record.is_file():
        raise HarnessError(f"no record: {describe(runs['20'])}; {describe(runs['30'])}")
    kept = str(json.loads(record.read_text())["metrics"]["clean"]["n"])
    exits = ", ".join(f"n={n}: {describe(run)}" for n, run in runs.items())
    if all(run.rc == 0 for run in runs.values()):
        gone = "30" if kept == "20" else "20"
        said = [
            line for line in _lines(runs[kept].text) if "n_examples" in line or "replac" in line
        ]
        if said:
            return "clear", f"both exit 0; the n={kept} run said: {said[0]}"
        return "lost data", (
            f"both exit 0 ('ran: clean' twice); the record keeps n={kept}, the n={gone} block "
            "vanished and neither run said so"
        )
    return "clear", f"{exits}; the record keeps n={kept}"


def _name_case(name: str) -> Callable[[Harness], tuple[str, str]]:
    def case(h: Harness) -> tuple[str, str]:
        folder = h.fresh("name") / "fashion-mnist"
        run = h.freqbench(
            "evaluate", "--model", h.checkpoint("smallcnn-natural-1ep"), "--metrics", "clean",
            "--n-examples", N, "--device", "cpu", "--out", folder, "--name", name,
        )  # fmt: skip
        written = sorted(p.name for p in folder.glob("*.json")) if folder.is_dir() else []
        return refused(run, f"wrote {', '.join(written) or 'nothing'}")

    return case


# --- options -------------------------------------------------------------------------------


def _option_case(*extra: str) -> Callable[[Harness], tuple[str, str]]:
    def case(h: Harness) -> tuple[str, str]:
        folder = h.fresh("option") / "fashion-mnist"
        metric = ["--metrics", "clean"]
        if "--seed" in extra:  # the heat map draws its signs from the seed
            metric = ["--metrics", "fourier_heatmap", "--heatmap-n-examples", N,
                      "--heatmap-band-limit", "1"]  # fmt: skip
        run = h.freqbench(
            "evaluate", "--model", h.checkpoint("smallcnn-natural-1ep"), *metric, "--n-examples",
            N, "--device", "cpu", "--out", folder, *extra,
        )  # fmt: skip
        return refused(run, "accepted, a record written")

    return case


# --- image files ---------------------------------------------------------------------------


def robustbench_first_images(n: int) -> list[str]:
    """RobustBench's first ImageNet test images (``<wnid>/<file>``), from its own list."""
    spec = importlib.util.find_spec("robustbench")
    if spec is None or not spec.submodule_search_locations:
        raise HarnessError("robustbench is not installed")
    listing = Path(next(iter(spec.submodule_search_locations))) / "helper_files"
    lines = (listing / "imagenet_test_image_ids.txt").read_text().split()
    return lines[:n]


def write_constant_png(path: Path, width: int, height: int) -> None:
    """A greyscale 8-bit PNG of one colour, streamed through zlib (a few hundred kB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    compressor, parts = zlib.compressobj(1), []
    row = b"\x00" + b"\x80" * width  # filter 0, mid-grey
    for _ in range(height // 100):
        parts.append(compressor.compress(row * 100))
    parts.append(compressor.compress(row * (height % 100)) + compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header))
        f.write(chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


def imagenet_folder(h: Harness, tag: str, first: Callable[[Path], None]) -> Path:
    """An ImageFolder of RobustBench's first two test images; ``first`` writes the first."""
    root = h.fresh(f"imagenet-{tag}")
    rng = np.random.default_rng(0)
    for k, name in enumerate(robustbench_first_images(2)):
        path = root / "val" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if k == 0:
            first(path)
        else:
            pixels = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path, format="JPEG")
    return root


def imagenet_clean(h: Harness, root: Path) -> Run:
    return h.freqbench(
        "evaluate", "--model", VIT_160, "--random-init", "--dataset", "imagenet", "--data-dir",
        root, "--n-examples", "1", "--metrics", "clean", "--device", "cpu", "--out",
        root / "records",
    )  # fmt: skip


def case_image_bomb(h: Harness) -> tuple[str, str]:
    root = imagenet_folder(h, "bomb", lambda p: write_constant_png(p, 30000, 30000))
    return refused(imagenet_clean(h, root), "decoded and evaluated")


def case_image_fifo(h: Harness) -> tuple[str, str]:
    return refused(imagenet_clean(h, imagenet_folder(h, "fifo", os.mkfifo)), "evaluated")


def case_image_folder(h: Harness) -> tuple[str, str]:
    root = imagenet_folder(h, "folder", lambda p: p.mkdir())
    return refused(imagenet_clean(h, root), "evaluated")


#: What freqbench's stream makes of the first image, beside the image's 8-bit content put
#: through the same transform.
DECODE = """
import json, sys
import numpy as np
from PIL import Image
from freqbench.data import load_dataset
from freqbench.data.preprocessing import build_transform
root, expected = sys.argv[1], np.load(sys.argv[2])
stream = load_dataset("imagenet", n_examples=1, data_dir=root, preprocessing="Res256Crop224")
got = next(iter(stream.batches(1)))[0][0]
want = build_transform("Res256Crop224")(Image.fromarray(expected).convert("RGB"))
print(json.dumps({"mean": float(got.mean()), "white": float((got >= 1).float().mean()),
                  "black": float((got <= 0).float().mean()), "want": float(want.mean()),
                  "diff": float((got - want).abs().mean())}))
"""


def _decoded_case(kind: str) -> Callable[[Harness], tuple[str, str]]:
    """A 16-bit PNG or a float TIFF (a smooth gradient) under a .JPEG name."""

    def case(h: Harness) -> tuple[str, str]:
        ramp = np.add.outer(np.arange(300), np.arange(400)) / 698.0  # 0 .. 1
        content = np.round(ramp * 255).astype(np.uint8)  # what the image shows, in 8 bits
        if kind == "png16":
            pixels, form = np.round(ramp * 65535).astype(np.uint16), "PNG"
        else:
            pixels, form = ramp.astype(np.float32), "TIFF"
        root = imagenet_folder(h, kind, lambda p: Image.fromarray(pixels).save(p, format=form))
        run = imagenet_clean(h, root)
        cls, evidence = refused(run, "evaluated")
        if cls != "silent nonsense" or run.rc != 0:
            return cls, evidence
        np.save(root / "content.npy", content)
        probe = h.python(DECODE, root, root / "content.npy")
        if probe.rc != 0:
            raise HarnessError(f"the decode probe failed: {describe(probe)}")
        seen = json.loads(_lines(probe.out)[-1])
        if seen["diff"] <= 0.02:
            return "clear", f"exit 0; decoded as its 8-bit content (mean {seen['want']:.3f})"
        return "silent nonsense", (
            f"exit 0; freqbench reads it as mean {seen['mean']:.3f} ({seen['white']:.0%} white, "
            f"{seen['black']:.0%} black) where its content has mean {seen['want']:.3f}"
        )

    return case


def cifar10_c(h: Harness, tag: str, labels: Callable[[np.ndarray], np.ndarray]) -> Path:
    """A CIFAR-10-C folder in the official layout (sparse files of 50000 images) whose first
    20 images of each severity are the CIFAR-10 test images, and whose labels there are
    ``labels(test labels)``."""
    _, images, test_labels = h.cifar10()
    folder = h.fresh(f"cifar10-c-{tag}")
    block = labels(test_labels)
    every = np.zeros(50000, dtype=block.dtype)
    for corruption in CORRUPTIONS:
        array = np.lib.format.open_memmap(
            folder / f"{corruption}.npy", mode="w+", dtype=np.uint8, shape=(50000, 32, 32, 3)
        )
        for severity in range(5):
            array[severity * 10000 : severity * 10000 + len(images)] = images
        array.flush()
        del array
    for severity in range(5):
        every[severity * 10000 : severity * 10000 + len(block)] = block
    np.save(folder / "labels.npy", every)
    return folder


LABEL_READER = '''\
import torch
from torch import nn


class ReadsTheLabel(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.num_classes = num_classes
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.scale * x[:, 0, 0, : self.num_classes]


def build(num_classes, in_channels, image_size):
    """predicts the class whose marker pixel (red, first row) is brightest"""
    return ReadsTheLabel(num_classes)
'''


def cifar_corruptions(h: Harness, folder: Path) -> Run:
    root, _, _ = h.cifar10()
    return h.freqbench(
        "evaluate", "--model", "hostile", "--random-init", "--dataset", "cifar10", "--data-dir",
        root, "--corruptions-dir", folder, "--metrics", "corruptions", "--n-examples", N,
        "--device", "cpu", "--out", h.fresh("records"), site=h.label_reader(),
    )  # fmt: skip


def _cifar_labels_case(
    labels: Callable[[np.ndarray], np.ndarray],
) -> Callable[[Harness], tuple[str, str]]:
    def case(h: Harness) -> tuple[str, str]:
        def control() -> str:
            run = cifar_corruptions(h, cifar10_c(h, "true-labels", lambda y: y.astype(np.uint8)))
            found = CORRUPTION_LINE.search(run.out)
            if run.rc != 0 or not found:
                raise HarnessError(f"the run with the true labels failed: {describe(run)}")
            return found.group(1)

        true = h.once("cifar-control", control)
        run = cifar_corruptions(h, cifar10_c(h, "hostile", labels))
        found = CORRUPTION_LINE.search(run.out)
        printed = f"printed {found.group(1)}%" if found else "printed no mean"
        return refused(run, f"{printed} (the same images with their true labels: {true}%)")

    return case


def _shuffled(y: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(1)
    while True:
        shuffled = rng.permutation(y).astype(np.uint8)
        if (shuffled != y).mean() > 0.5:
            return shuffled


def _out_of_range(y: np.ndarray) -> np.ndarray:
    return np.where(np.arange(len(y)) % 2 == 0, 12, -1).astype(np.int64)


def _float_labels(y: np.ndarray) -> np.ndarray:
    return np.random.default_rng(2).uniform(0, 10, len(y)).astype(np.float32)


def case_release_imagenet_c_160(h: Harness) -> tuple[str, str]:
    rng = np.random.default_rng(3)

    def jpeg(path: Path) -> None:
        Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(path, "JPEG")

    root = imagenet_folder(h, "release", jpeg)
    for name in robustbench_first_images(2):
        for corruption in CORRUPTIONS:
            for severity in range(1, 6):
                path = root / "ImageNet-C" / corruption / str(severity) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                pixels = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(path, "JPEG")  # the release's 224 x 224 JPEGs
    run = h.freqbench(
        "evaluate", "--model", VIT_160, "--random-init", "--dataset", "imagenet", "--data-dir",
        root, "--corruptions-dir", root, "--n-examples", "1", "--metrics", "corruptions",
        "--device", "cpu", "--out", root / "records",
    )  # fmt: skip
    crash = crashed(run)
    if crash:
        return crash
    if run.rc != 0:
        return "clear", describe(run)
    found = CORRUPTION_LINE.search(run.out)
    records = list((root / "records").glob("*.json"))
    block = json.loads(records[0].read_text())["metrics"].get("corruptions") if records else None
    if not found or block is None:
        return "silent nonsense", "exit 0 but no corruptions block"
    resized = "160" in json.dumps(block)
    return "clear", (
        f"exit 0, corruptions {found.group(1)}% on the release files"
        f"{', the block records the 160 px resize' if resized else ', no resize in the block'}"
    )


# --- plugins -------------------------------------------------------------------------------


def plugin_site(h: Harness, group: str, module_text: str, attribute: str) -> Path:
    """A folder to put on PYTHONPATH: module ``hostile_plugin`` and the dist-info that pip
    would write for package ``hostile-plugin``, whose entry point ``hostile`` in ``group``
    names ``attribute``."""
    site = h.fresh("site")
    (site / "hostile_plugin.py").write_text(module_text)
    info = site / "hostile_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hostile-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\nhostile = hostile_plugin:{attribute}\n")
    return site


RECIPE = """\
import sys
from dataclasses import dataclass

import torch.nn.functional as F

from freqbench.recipes.base import Recipe, RecipeConfig, RecipeOutput


@dataclass(frozen=True)
class Config(RecipeConfig):
    pass


class R(Recipe):
    name = "hostile"
    summary = "a hostile test recipe"
    config_class = Config
    soft_targets = False

    def loss(self, model, x, y, generator):
        logits = model(x)
        {body}
"""

RECIPE_BODIES = {
    "raises": 'raise RuntimeError("the hostile loss failed")',
    "none": "return None",
    "non-scalar": 'return RecipeOutput(F.cross_entropy(logits, y, reduction="none"), logits)',
    "no-gradient": "return RecipeOutput(F.cross_entropy(logits, y).detach(), logits)",
    "sys-exit": "sys.exit(7)",
}


def _recipe_case(body: str) -> Callable[[Harness], tuple[str, str]]:
    def case(h: Harness) -> tuple[str, str]:
        site = plugin_site(h, "freqbench.recipes", RECIPE.format(body=body), "R")
        out = h.fresh("train") / "run"
        run = h.freqbench(
            "train", "--arch", "smallcnn", "--recipe", "hostile", "--dataset", "synthetic",
            "--epochs", "1", "--batch-size", "32", "--max-train-examples", "64",
            "--eval-examples", "16", "--device", "cpu", "--no-progress", "--out", out, site=site,
        )  # fmt: skip
        cls, evidence = refused(run, "trained")
        if (out / "model.safetensors").is_file():
            evidence += "; a checkpoint was written"
        return cls, evidence

    return case


ARCHITECTURE = '''\
import sys

from torch import nn


def build(num_classes, in_channels, image_size):
    """a hostile test architecture"""
    {body}
'''

ARCHITECTURE_BODIES = {
    "raises": 'raise RuntimeError("the hostile builder failed")',
    "str": 'return "not a model"',
    "none": "return None",
    "lambda": "return lambda x: x.flatten(1)[:, :num_classes]",
    "too-large": "return nn.Linear(10**6, 10**6)",  # 4 TB of weights
    "sys-exit": "sys.exit(6)",
}


def _architecture_case(body: str) -> Callable[[Harness], tuple[str, str]]:
    def case(h: Harness) -> tuple[str, str]:
        site = plugin_site(h, "freqbench.architectures", ARCHITECTURE.format(body=body), "build")
        folder = h.fresh("arch") / "fashion-mnist"
        run = h.freqbench(
            "evaluate", "--model", "hostile", "--random-init", "--dataset", "fashion-mnist",
            "--metrics", "clean", "--n-examples", N, "--device", "cpu", "--out", folder, site=site,
        )  # fmt: skip
        shown = CLEAN_LINE.search(run.out)
        written = sorted(p.name for p in folder.glob("*.json")) if folder.is_dir() else []
        accepted = f"record {', '.join(written) or 'none'} written"
        return refused(run, accepted + (f", clean accuracy {shown.group(1)}%" if shown else ""))

    return case


METRIC = """\
from freqbench.metrics import Column, MetricSpec, Presentation, ProtocolField

def compute(model, data, **options):
    return {{"accuracy": 0.5, "n": len(data)}}

SPEC = MetricSpec(
    name="hostile", description="a hostile test metric", version="1", compute=compute,
    reads=("n_examples", "{field}"),
    presentation=Presentation(columns=(Column("hostile", "Hostile", "a test column", ("accuracy",), percent=True),)),
    schema={{"type": "object", "required": ["accuracy", "n"],
             "properties": {{"accuracy": {{"type": "number"}}, "n": {{"type": "integer"}}}}}},
    fields=(ProtocolField("{field}", str, "a field named like an option"),),
)
"""


def _metric_field_case(field: str) -> Callable[[Harness], tuple[str, str]]:
    def case(h: Harness) -> tuple[str, str]:
        site = plugin_site(h, "freqbench.metrics", METRIC.format(field=field), "SPEC")
        listed = h.freqbench("list", "metrics", site=site)
        registered = any(line.split()[:1] == ["hostile"] for line in _lines(listed.out))
        warned = [line for line in warnings_of(listed) if "hostile" in line]
        run = h.freqbench(
            "evaluate", "--model", h.checkpoint("smallcnn-natural-1ep"), "--metrics", "clean",
            "--n-examples", N, "--device", "cpu", "--out", h.fresh("records"), site=site,
        )  # fmt: skip
        load = "registered without a warning" if registered and not warned else (
            f"left out: {warned[0]}" if warned else "not listed"
        )  # fmt: skip
        crash = crashed(run)
        if crash:
            return crash[0], f"the plugin {load}; evaluate {crash[1]}"
        if run.rc != 0:
            return "silent nonsense", f"the plugin {load}; evaluate {describe(run)}"
        return "clear", f"the plugin {load}; evaluate exit 0"

    return case


# --- the cases -----------------------------------------------------------------------------

CASES: dict[str, Callable[[Harness], tuple[str, str]]] = {
    "cache-copied-cell": case_cache_copied_cell,
    "cache-symlinked-cell": case_cache_symlinked_cell,
    "cache-fifo-entry": case_cache_fifo_entry,
    "cache-max-gb-1e308-info": _max_gb_info("1e308"),
    "cache-max-gb-nan-info": _max_gb_info("nan"),
    "cache-max-gb-1e308-evaluate": _max_gb_evaluate("1e308"),
    "cache-max-gb-nan-evaluate": _max_gb_evaluate("nan"),
    "cache-clear-folder-entry": case_cache_clear_folder_entry,
    "record-count-0.99-of-20": case_block_count,
    "record-heatmap-3x3": _heatmap_swap(_save_3x3),
    "record-heatmap-other-model": _heatmap_swap(_save_other_models),
    "record-heatmap-object-array": _heatmap_swap(_save_object_array),
    "record-heatmap-text": _heatmap_swap(_save_text),
    "record-replace-into-leaderboard": case_replace_into_leaderboard,
    "record-concurrent-clean-20-30": case_concurrent_clean,
    "record-name-nat.json": _name_case("nat.json"),
    "record-name-empty": _name_case(""),
    "option-threads-1e18": _option_case("--threads", "1e18"),
    "option-threads-10**18": _option_case("--threads", str(10**18)),
    "option-seed-2**64": _option_case("--seed", str(2**64)),
    "image-bomb-30000x30000-png": case_image_bomb,
    "image-16-bit-png": _decoded_case("png16"),
    "image-float-tiff": _decoded_case("float-tiff"),
    "image-fifo-jpeg": case_image_fifo,
    "image-folder-jpeg": case_image_folder,
    "cifar10-c-labels-shuffled": _cifar_labels_case(_shuffled),
    "cifar10-c-labels-out-of-range": _cifar_labels_case(_out_of_range),
    "cifar10-c-labels-float": _cifar_labels_case(_float_labels),
    **{f"recipe-plugin-{k}": _recipe_case(body) for k, body in RECIPE_BODIES.items()},
    **{f"architecture-plugin-{k}": _architecture_case(b) for k, b in ARCHITECTURE_BODIES.items()},
    "metric-plugin-field-cache_dir": _metric_field_case("cache_dir"),
    "metric-plugin-field-input_normalization": _metric_field_case("input_normalization"),
    "imagenet-c-release-160px-model": case_release_imagenet_c_160,
}


def shorten(evidence: str, width: int = 260) -> str:
    """One line; a long message keeps its start (what was wrong) and its end (the file)."""
    text = " ".join(evidence.split())
    return text if len(text) <= width else f"{text[: width - 60]} ... {text[-55:]}"


def selected(only: str | None) -> list[str]:
    if not only:
        return list(CASES)
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    chosen = [c for c in CASES if any(fnmatch.fnmatchcase(c, p) for p in patterns)]
    if not chosen:
        sys.exit(f"--only {only}: no case matches; the cases are:\n  " + "\n  ".join(CASES))
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", metavar="CASE",
        help="run only these cases: ids or fnmatch patterns, comma-separated (e.g. 'cache-*')",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=90,
        help="seconds a command may run before it counts as a hang (default 90)",
    )  # fmt: skip
    args = parser.parse_args()
    names = selected(args.only)

    import freqbench

    script = Path(__file__).resolve()
    shown = script.relative_to(Path.cwd()) if script.is_relative_to(Path.cwd()) else script
    print(f"reproduce: {shlex.join([sys.executable, str(shown), *sys.argv[1:]])}")
    print(f"freqbench {freqbench.__version__} from {Path(freqbench.__file__).parent}")
    print(f"{len(names)} cases, {args.timeout:g} s per command before it counts as a hang\n")
    print(f"{'case':<42} {'class':<16} {'s':>4}  evidence")
    results: dict[str, tuple[str, str]] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="freqbench-trust-") as tmp:
        harness = Harness(Path(tmp), args.timeout)
        for name in names:
            began = time.perf_counter()
            try:
                cls, evidence = CASES[name](harness)
            except HarnessError as exc:
                cls, evidence = "not run", str(exc)
            if cls not in (*CLASSES, "not run"):
                raise AssertionError(f"{name}: unknown class {cls}")
            results[name] = (cls, evidence)
            seconds = time.perf_counter() - began
            print(f"{name:<42} {cls:<16} {seconds:4.0f}  {shorten(evidence)}", flush=True)
    print(f"\ncounts ({len(results)} cases, {time.perf_counter() - start:.0f} s):")
    for cls in (*CLASSES, "not run"):
        count = sum(1 for c, _ in results.values() if c == cls)
        if count or cls != "not run":
            print(f"  {cls:<16} {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
