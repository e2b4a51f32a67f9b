"""Progress away from a terminal: plain log lines at a steady pace, even while a step runs."""

from __future__ import annotations

import time

from freqbench.progress import Progress


def test_log_lines_say_count_share_and_time_left_and_keep_coming_during_a_long_step(
    capsys, monkeypatch
):
    monkeypatch.setenv("FREQBENCH_LOG_SECONDS", "0.05")
    with Progress(4, "AutoAttack apgd-ce", "images") as bar:
        bar.update(2)
        bar.note("1 robust")
        time.sleep(0.3)  # one long batch: nothing updates, the heartbeat still writes
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 3  # several heartbeat lines and the final one
    assert lines[0].startswith("AutoAttack apgd-ce: 2/4 images (50%), 1 robust, ")
    assert lines[0].endswith("left")
    assert lines[-1].startswith("AutoAttack apgd-ce: 2/4 images (50%), 1 robust, in ")
    assert all("\r" not in line for line in lines)


def test_disabled_progress_is_silent(capsys):
    with Progress(3, "x", enabled=False) as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""


def test_tasks_of_unequal_length_get_no_time_left_and_advance_never_moves_back(capsys):
    with Progress(5, "evaluating m", "tasks", estimate=False) as bar:
        bar.update(2)
        assert bar.line().endswith("elapsed") and "left" not in bar.line()
        bar.advance_to(1)
        assert bar.done == 2
        bar.advance_to(4)
        assert bar.done == 4
    assert capsys.readouterr().err.startswith("evaluating m: 4/5 tasks (80%), in ")


def test_a_worker_s_lines_go_to_its_reporter_not_to_stderr(capsys):
    from freqbench.progress import reporting_to

    sent: list[str] = []
    with reporting_to(sent.append), Progress(3, "corruptions", "cells") as bar:
        bar.update(3)
    assert sent[-1].startswith("corruptions: 3/3 cells (100%), in ")  # the final line
    assert capsys.readouterr().err == ""


def test_a_remote_task_s_late_line_does_not_outlive_its_end():
    """Ray delivers a worker's status lines asynchronously: one sent before the task ended
    may arrive after its result, and must not stay beside the bar for the rest of the job."""
    from freqbench.scheduler import TaskStatus

    class Bar:
        def __init__(self):
            self.notes, self.events = [], []

        def note(self, text):
            self.notes.append(text)

        def event(self, text):
            self.events.append(text)

    bar = Bar()
    status = TaskStatus(bar)
    status.names = {1: "m: autoattack 1/2", 2: "m: autoattack 2/2"}
    status.hear(1, "started")
    status.hear(2, "apgd-ce 3/8 images")
    status.ended(1, 12.0, failed=False, remote=True)
    status.hear(1, "apgd-ce 8/8 images")  # sent before the end, heard after it
    status.hear(2, "apgd-t 4/8 images")
    assert bar.notes[-1] == "m: autoattack 2/2: apgd-t 4/8 images"
    assert bar.events == ["m: autoattack 1/2: started", "m: autoattack 1/2: done in 12 s"]


def test_a_task_counts_as_done_only_once_its_result_is_handled():
    """The bar said "1/1 tasks (100%)" while the block's figures were still being written:
    a task is done when its callback (merge, artifacts) has returned."""
    from freqbench.executors import LocalExecutor
    from freqbench.scheduler import Scheduler

    bar = Progress(0, "tasks", "tasks", enabled=False)
    scheduler, seen = Scheduler(LocalExecutor(), bar), []
    for name in ("a", "b"):
        scheduler.submit(
            lambda task: task, name, name, lambda result: seen.append((result, bar.done))
        )
    scheduler.run()
    assert seen == [("a", 0), ("b", 1)] and bar.done == 2
