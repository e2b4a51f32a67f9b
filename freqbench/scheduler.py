"""The one scheduler of evaluations and grids: it hands tasks to an executor and each result to
what waits for it.

It sits beside the executors and knows no kind of task: a block task's callback hands its
result to the record's plan (:func:`freqbench.evaluate.submit_plan`), which merges the block
once all its shards are in; a grid's training run has a callback of its own, which may submit
more work (the rows a trained row unlocks). One progress bar
counts the job's tasks; for tasks that run elsewhere it shows when each starts and ends and
its latest progress line beside the bar.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from freqbench.executors import Executor
from freqbench.progress import Progress

Done = Callable[[Any], None]


class TaskStatus:
    """What the driver shows of tasks that run elsewhere: a line when each starts and ends,
    and the latest progress line of those running beside its own bar."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.names: dict[int, str] = {}
        self.lines: dict[int, str] = {}
        self.over: set[int] = set()

    def hear(self, handle: int, line: str) -> None:
        if handle in self.over:  # a line sent before the task's end can arrive after it
            return
        name = self.names.get(handle, f"task {handle}")
        if line == "started":
            self.bar.event(f"{name}: started")
        self.lines[handle] = f"{name}: {line}"
        self.bar.note(" | ".join(self.lines.values()))

    def ended(self, handle: int, seconds: float, failed: bool, remote: bool) -> None:
        self.lines.pop(handle, None)
        self.over.add(handle)
        if remote:
            how = "FAILED" if failed else f"done in {seconds:.0f} s"
            self.bar.event(f"{self.names.get(handle, f'task {handle}')}: {how}")


class Scheduler:
    """Tasks on ``executor``, results to their callbacks, progress on ``bar``."""

    def __init__(self, executor: Executor, bar: Progress) -> None:
        self.executor, self.bar = executor, bar
        self.status = TaskStatus(bar)
        self.waiting: dict[int, Done] = {}
        executor.on_status = self.status.hear

    def submit(self, function: Callable[[Any], Any], task: Any, name: str, done: Done) -> None:
        """Run ``function(task)``; ``done(result)`` when it has finished."""
        handle = self.executor.submit(function, task, gpu=True)
        self.waiting[handle], self.status.names[handle] = done, name
        self.bar.add_total(1)

    def run(self) -> None:
        """Until no task is left: each result to its callback (which may submit more)."""
        remote = self.executor.name != "local"
        while self.executor.pending:
            handle, result = self.executor.next_done()
            done = self.waiting.pop(handle)
            error = getattr(result, "error", None)
            self.status.ended(handle, getattr(result, "seconds", 0.0), error is not None, remote)
            done(result)  # the block merged, its figures written: only then is the task done
            self.bar.update()
