"""Run a grid: train what is missing, publish it to the zoo, evaluate it, regenerate the pages.

Every step is resumable and skipped when done: training resumes from its last epoch, the
AutoAttack metric from its last batch, and only the metric blocks a row's record lacks (or
holds for other weights, an older metric version or another protocol) are evaluated. Rows are
locked one at a time, so several processes can share a grid. After each step the pages are
regenerated and ``on_published(message, files)`` is called with what changed (the CLI commits
them with ``--commit``), so a kill never loses finished work.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from freqbench.errors import UserError
from freqbench.evaluate import evaluate
from freqbench.grid.lock import row_lock
from freqbench.grid.publish import entry_path, publish_smoothed, publish_trained
from freqbench.grid.spec import GridRow, GridSpec
from freqbench.grid.status import (
    GridPaths,
    RowState,
    grid_states,
    record_path,
    row_protocol,
    row_state,
)
from freqbench.leaderboard import write_pages
from freqbench.records import display_path, read_json, record_files
from freqbench.zoo import GRID_FILE, default_root, load_entry

WAIT_SECONDS = 30  # between looks at rows that wait on another process
LEDGER = "ledger.jsonl"  # in the runs folder: wall and CPU time of every step, appended


def check_location(spec: GridSpec) -> None:
    """The evaluator finds entries by name in ./model_zoo, so the grid must live there."""
    zoo = default_root().resolve()
    if spec.path.resolve() != zoo / spec.dataset / GRID_FILE:
        raise UserError(
            f"{spec.path}: a grid file must be model_zoo/{spec.dataset}/{GRID_FILE} of the "
            f"repository you run from ({zoo}); run `freqbench grid` from the repository root"
        )


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
    ) -> None:
        check_location(spec)
        self.spec, self.paths = spec, paths
        self.device, self.train_only = device, train_only
        self.progress, self.say, self.on_published = progress, say, on_published

    def _finished(self, state: RowState) -> bool:
        return state.trained if self.train_only else state.done

    def run(self) -> list[RowState]:
        """Work until every row is done (trained, with ``train_only``) or held by another
        process; returns the final states."""
        while True:
            pending = [s for s in grid_states(self.spec, self.paths) if not self._finished(s)]
            worked = [self._attempt(state.row) for state in pending]
            if any(worked):
                continue
            waiting = [s for s in grid_states(self.spec, self.paths) if not self._finished(s)]
            if not waiting or all(s.running for s in waiting):
                if self.on_published:  # a row finished by a killed run may have missed its commit
                    self._publish_pages("Grid: commit finished rows")
                return grid_states(self.spec, self.paths)
            self.say(f"waiting for other processes ({', '.join(s.row.name for s in waiting)})")
            time.sleep(WAIT_SECONDS)

    def _ready(self, name: str | None) -> bool:
        return name is None or row_state(self.spec, self.paths, self.spec.row(name)).trained

    def _attempt(self, row: GridRow) -> bool:
        """Do what the row still needs, if it is free and its inputs exist; True if it did."""
        needs = [row.source] if self.train_only else [row.source, row.reference]
        if not all(self._ready(name) for name in needs):
            return False
        with row_lock(self.paths.runs / f"{row.name}.lock") as held:
            state = row_state(self.spec, self.paths, row)  # again, now that the row is ours
            if not held or self._finished(state):
                return False
            if not state.trained:
                with self._timed(row, "train" if row.trained else "smooth"):
                    self._publish(row)
                if self.on_published:  # a checkpoint is published before its evaluation starts
                    self._publish_pages(f"Grid row {row.name}: trained")
            if self.train_only:
                return True
            with self._timed(row, "evaluate"):
                self._evaluate(row)
            if not row_state(self.spec, self.paths, row).done:  # else the loop would never end
                raise UserError(
                    f"{row.name}: evaluated, but {display_path(record_path(self.spec, self.paths, row))} "
                    "still lacks blocks of the published weights under the standard protocol"
                )
            self._finish(row)
            return True

    @contextlib.contextmanager
    def _timed(self, row: GridRow, step: str) -> Iterator[None]:
        """Append the step's wall and CPU seconds (all threads of this process) to the ledger."""
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        entry = {
            "row": row.name,
            "step": step,
            "wall_seconds": round(time.perf_counter() - wall, 1),
            "cpu_seconds": round(time.process_time() - cpu, 1),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.paths.runs.mkdir(parents=True, exist_ok=True)
        with open(self.paths.runs / LEDGER, "a", encoding="utf-8") as ledger:
            ledger.write(json.dumps(entry) + "\n")

    def _publish(self, row: GridRow) -> None:
        if row.config is None:
            self.say(f"{row.name}: smoothing {row.source}")
            publish_smoothed(self.spec, row)
            return
        from freqbench.training import train

        run_dir = self.paths.runs / row.name
        self.say(f"{row.name}: training ({display_path(run_dir)})")
        train(row.config, run_dir, resume=True, progress=self.progress)
        publish_trained(self.spec, row, run_dir)

    def _evaluate(self, row: GridRow) -> None:
        """Evaluate the blocks the row's record lacks (the evaluator skips the rest)."""
        self.say(f"{row.name}: evaluating (standard protocol)")
        evaluate(
            row.name,
            dataset=self.spec.dataset,
            protocol=row_protocol(self.spec, row),
            out_dir=self.paths.records / self.spec.dataset,
            device=self.device,
            progress=self.progress is not False,
        )

    def _finish(self, row: GridRow) -> None:
        record = read_json(record_path(self.spec, self.paths, row))
        info = record["model_info"]
        summary = (
            f"clean {info['clean_acc']:.2f}%, AutoAttack {info['autoattack_acc']:.2f}%, "
            f"corruptions {info['corruptions_acc']:.2f}%"
        )
        self.say(f"{row.name}: done ({summary})")
        self._publish_pages(f"Grid row {row.name}: {summary}")

    def _publish_pages(self, message: str) -> None:
        """Regenerate the pages and FINDINGS.md and hand every trained and finished row's files
        with them to ``on_published``; one process at a time, so that what is handed over
        agrees with itself."""
        from freqbench.findings import write_findings

        folder = self.paths.records / self.spec.dataset
        with row_lock(self.paths.runs / ".pages.lock", wait=True):
            pages = []
            if folder.is_dir() and record_files(folder):  # no pages before the first record
                pages = write_pages(self.paths.records, self.spec.dataset)
                pages.append(write_findings(self.spec, self.paths.records))
            if self.on_published:
                trained = [s for s in grid_states(self.spec, self.paths) if s.trained]
                files = [f for state in trained for f in row_files(self.spec, self.paths, state)]
                self.on_published(message, files + pages)


def row_files(spec: GridSpec, paths: GridPaths, state: RowState) -> list[Path]:
    """What a row adds to the repository: its entry and weights once trained, then its record."""
    entry = load_entry(entry_path(spec, state.row))
    files = [entry.path]
    if entry.weights_path is not None:
        files += [entry.weights_path, entry.weights_path.with_suffix(".json")]
    record = record_path(spec, paths, state.row)
    if not record.is_file():
        return files
    artifacts = read_json(record).get("artifacts", {}).values()
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
