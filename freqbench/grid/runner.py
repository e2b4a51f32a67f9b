"""Run a grid: train what is missing, publish it to the zoo, evaluate it, regenerate the pages.

One driver plans everything and hands the work to an executor: a training task per row that
has no published weights, and a task per missing or stale (row, metric, shard) block, given
as soon as the row's weights (and its filter-shift reference's) are published. On the local
executor the tasks run in this process one after another; on Ray they run side by side on the
cluster's GPUs and machines. Only the driver writes: it publishes each trained row at once
(and hands its files to ``on_published``, which the CLI commits with ``--commit``), merges
each finished block into its row's record atomically, and regenerates the pages and
FINDINGS.md once at the end. A killed driver loses the tasks in flight and nothing else: run
it again and it plans only what is still missing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from freqbench.config import TrainConfig
from freqbench.errors import UserError
from freqbench.evaluate import RecordPlan, plan_evaluation, submit_plan
from freqbench.evaluate.tasks import BlockTask, torch_threads
from freqbench.executors import Executor, make_executor
from freqbench.grid.publish import entry_path, publish_smoothed, publish_trained
from freqbench.grid.spec import GridRow, GridSpec
from freqbench.grid.status import GridPaths, RowState, grid_states, record_path, row_protocol
from freqbench.metrics import all_metrics
from freqbench.paths import GRID_FILE, display_path
from freqbench.progress import Progress
from freqbench.records import load_record, record_files
from freqbench.scheduler import Scheduler
from freqbench.zoo import default_root, load_entry

LEDGER = "ledger.jsonl"  # in the runs folder: wall and CPU time of every step, appended


def check_location(spec: GridSpec) -> None:
    """The evaluator finds entries by name in ./model_zoo, so the grid must live there."""
    zoo = default_root().resolve()
    if spec.path.resolve() != zoo / spec.dataset / GRID_FILE:
        raise UserError(
            f"{spec.path}: a grid file must be model_zoo/{spec.dataset}/{GRID_FILE} of the "
            f"repository you run from ({zoo}); run `freqbench grid` from the repository root"
        )


@dataclass(frozen=True)
class TrainTask:
    """One row's training run: plain data, so that it can travel to a Ray worker."""

    row: str
    config: TrainConfig
    run_dir: str
    cwd: str
    progress: bool | None = None
    threads: int | None = None  # torch threads (None: as the process has)


@dataclass(frozen=True)
class TrainDone:
    row: str
    wall_seconds: float
    cpu_seconds: float

    @property
    def seconds(self) -> float:
        return self.wall_seconds


def train_row(task: TrainTask) -> TrainDone:
    """Train (or resume) one row where this process runs: the worker side."""
    from freqbench.training import train

    wall, cpu = time.perf_counter(), time.process_time()
    before = os.getcwd()
    os.chdir(task.cwd)
    try:
        with torch_threads(task.threads):
            train(task.config, Path(task.run_dir), resume=True, progress=task.progress)
    finally:
        os.chdir(before)
    return TrainDone(task.row, time.perf_counter() - wall, time.process_time() - cpu)


class GridRunner:
    def __init__(
        self,
        spec: GridSpec,
        paths: GridPaths,
        *,
        device: str = "auto",
        train_only: bool = False,
        progress: bool | None = None,
        say: Callable[[str], None] = print,
        on_published: Callable[[str, list[Path]], None] | None = None,
        executor: str | Executor = "local",
        shards: int = 1,
        threads: int | None = None,
        more_pages: Callable[[GridSpec, GridPaths], list[Path]] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        check_location(spec)
        self.spec, self.paths = spec, paths
        self.device, self.train_only, self.shards = device, train_only, shards
        self.progress, self.say, self.on_published = progress, say, on_published
        self.executor, self.threads, self.more_pages = executor, threads, more_pages
        self.cache_dir = cache_dir
        self.seconds: dict[str, float] = {}  # step ("train", or a metric) -> task seconds
        self.failed: dict[str, str] = {}  # "row: metric" -> why its block failed

    def run(self) -> list[RowState]:
        """Train and evaluate everything that is missing; returns the final row states."""
        job = make_executor(self.executor) if isinstance(self.executor, str) else self.executor
        try:
            _Job(self, job).run()
        finally:
            if isinstance(self.executor, str):
                job.close()
        self._publish_pages()
        return grid_states(self.spec, self.paths)

    def ledger(self, row: str, step: str, wall: float, cpu: float) -> None:
        """Append a step's wall and CPU seconds (as its task measured them) to the ledger."""
        entry = {
            "row": row,
            "step": step,
            "wall_seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 1),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.paths.runs.mkdir(parents=True, exist_ok=True)
        with open(self.paths.runs / LEDGER, "a", encoding="utf-8") as ledger:
            ledger.write(json.dumps(entry) + "\n")

    def published(self, message: str, files: list[Path]) -> None:
        if self.on_published:
            self.on_published(message, files)

    def _publish_pages(self) -> None:
        """Regenerate the pages (and what ``more_pages`` writes from the records, the
        findings) and hand every row's files with them over."""
        from freqbench.leaderboard import write_pages

        folder = self.paths.records / self.spec.dataset
        pages = []
        if folder.is_dir() and record_files(folder):  # no pages before the first record
            pages = write_pages(self.paths.records, self.spec.dataset)
            pages += self.more_pages(self.spec, self.paths) if self.more_pages else []
        trained = [s for s in grid_states(self.spec, self.paths) if s.trained]
        files = [f for state in trained for f in row_files(self.spec, self.paths, state.row)]
        done = sum(s.done for s in trained)
        self.published(f"Grid: {done} of {len(self.spec.rows)} rows evaluated", files + pages)


class _Job:
    """One run of a grid on one executor: what is submitted, and what its results unlock."""

    def __init__(self, runner: GridRunner, executor: Executor) -> None:
        self.runner, self.executor = runner, executor
        self.spec, self.paths = runner.spec, runner.paths
        self.states = {s.row.name: s for s in grid_states(self.spec, self.paths)}
        self.published = {name for name, s in self.states.items() if s.trained}
        self.training: set[str] = set()  # rows whose training task was handed out
        self.evaluating: set[str] = set()  # rows whose evaluation was planned
        self.spent: dict[str, list[float]] = {}  # row -> [wall, cpu] of its evaluation tasks
        self.scheduler: Scheduler | None = None

    def run(self) -> None:
        progress = self.runner.progress is not False
        with Progress(0, "grid", "tasks", enabled=progress, estimate=False) as bar:
            self.scheduler = Scheduler(self.executor, bar)
            for row in self.spec.rows:
                self._advance(row)
            self.scheduler.run()

    def _advance(self, row: GridRow) -> None:
        """Do what ``row`` can do now: publish, train or evaluate it."""
        if row.name not in self.published:
            if row.config is None:  # a smoothed copy: published as soon as its source is
                if row.source in self.published:
                    self.runner.say(f"{row.name}: smoothing {row.source}")
                    publish_smoothed(self.spec, row)
                    self._on_published(row)
            elif row.name not in self.training:
                self.training.add(row.name)
                run_dir = self.paths.runs / row.name
                self.runner.say(f"{row.name}: training ({display_path(run_dir)})")
                task = TrainTask(row.name, row.config, str(run_dir.resolve()), os.getcwd(),
                                 self.runner.progress, self.runner.threads)  # fmt: skip
                self.scheduler.submit(
                    train_row, task, f"{row.name}: training", lambda done: self._trained(row, done)
                )
            return
        ready = row.reference is None or row.reference in self.published
        if self.runner.train_only or not ready or row.name in self.evaluating:
            return
        self.evaluating.add(row.name)
        plan = self._plan(row)
        plan.refresh()  # nothing to run: the record may still learn its training config
        if plan.tasks:
            self.runner.say(f"{row.name}: evaluating {', '.join(s.name for s in plan.running)}")
            submit_plan(
                self.scheduler, plan,
                lambda plan, task, result: self._evaluated(row, plan, task, result),
            )  # fmt: skip

    def _plan(self, row: GridRow) -> RecordPlan:
        """The row's evaluation; its record belongs to the grid, so one of other weights (the
        row was trained again) is replaced."""
        protocol = row_protocol(self.spec, row).replace(shards=self.runner.shards)
        return plan_evaluation(
            row.name, dataset=self.spec.dataset, protocol=protocol,
            out_dir=self.paths.records / self.spec.dataset, device=self.runner.device,
            executor=self.executor.name, progress=self.runner.progress is True, replace=True,
            threads=self.runner.threads, cache_dir=self.runner.cache_dir, publish=True,
        )  # fmt: skip

    def _on_published(self, row: GridRow) -> None:
        """A row's weights are in the zoo: hand them over, and unlock what waited for them."""
        self.published.add(row.name)
        self.runner.published(
            f"Grid row {row.name}: trained", row_files(self.spec, self.paths, row)
        )
        for other in self.spec.rows:
            if other.name == row.name or row.name in (other.source, other.reference):
                self._advance(other)

    def _trained(self, row: GridRow, done: TrainDone) -> None:
        publish_trained(self.spec, row, self.paths.runs / row.name)
        self.runner.ledger(row.name, "train", done.wall_seconds, done.cpu_seconds)
        self.runner.seconds["train"] = self.runner.seconds.get("train", 0.0) + done.wall_seconds
        self._on_published(row)

    def _evaluated(self, row: GridRow, plan: RecordPlan, task: BlockTask, result) -> None:
        seconds = self.runner.seconds
        seconds[task.metric] = seconds.get(task.metric, 0.0) + result.seconds
        spent = self.spent.setdefault(row.name, [0.0, 0.0])
        spent[0] += result.seconds
        spent[1] += result.cpu_seconds
        if task.metric in plan.failed and f"{row.name}: {task.metric}" not in self.runner.failed:
            self.runner.failed[f"{row.name}: {task.metric}"] = plan.failed[task.metric]
            self.runner.say(f"{row.name}: {task.metric} FAILED: {plan.failed[task.metric]}")
        if plan.complete:
            plan.close()
            info = plan.record["model_info"]
            summary = ", ".join(
                f"{column.title} {info[column.model_info]:.2f}%"
                for spec in all_metrics()
                for column in spec.presentation.columns
                if column.model_info and info.get(column.model_info) is not None
            )
            self.runner.say(f"{row.name}: done ({summary})")
            self.runner.ledger(row.name, "evaluate", *self.spent.pop(row.name))


def row_files(spec: GridSpec, paths: GridPaths, row: GridRow) -> list[Path]:
    """What a row adds to the repository: its entry and weights once trained, then its record."""
    entry = load_entry(entry_path(spec, row))
    files = [entry.path]
    if entry.weights_path is not None:
        files += [entry.weights_path, entry.weights_path.with_suffix(".json")]
    record = record_path(spec, paths, row)
    if not record.is_file():
        return files
    artifacts = load_record(record).data["artifacts"].values()
    return files + [record] + [record.parent / name for name in artifacts]


def ledger_totals(paths: GridPaths) -> dict[str, float]:
    """Wall and CPU seconds of every finished step in the ledger (0 when there is none)."""
    path = paths.runs / LEDGER
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    steps = [json.loads(line) for line in lines if line.strip()]
    return {
        "steps": len(steps),
        "wall_seconds": sum(s["wall_seconds"] for s in steps),
        "cpu_seconds": sum(s["cpu_seconds"] for s in steps),
    }
