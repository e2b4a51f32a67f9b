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
