"""Progress that says something wherever it is read: a live bar on a terminal, log lines elsewhere.

On a terminal it is a tqdm bar whose elapsed time and ETA keep moving while one long step runs
(a heartbeat redraws it every second). When stderr is a file or a pipe (a log, CI, ``nohup``)
it writes one plain line every ``FREQBENCH_LOG_SECONDS`` seconds (30 by default) with the
count, the elapsed time and an estimate of the time left, and one line when it ends, instead
of hundreds of carriage returns. On a worker of another machine (:func:`reporting_to`) the
lines go to the driver instead, which shows them beside its own bar. ``enabled=False`` is
silent.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from freqbench.bounds import NumberRange, from_environment

#: Seconds between the lines a worker sends to the driver (see :func:`reporting_to`).
REPORT_SECONDS = 2.0
_reporter: Callable[[str], None] | None = None


@contextlib.contextmanager
def reporting_to(send: Callable[[str], None]) -> Iterator[None]:
    """Where a worker has no terminal of the user's (a Ray worker): every progress line goes
    to ``send`` (every :data:`REPORT_SECONDS`, and when a bar ends) instead of stderr."""
    global _reporter
    before, _reporter = _reporter, send
    try:
        yield
    finally:
        _reporter = before


def log_seconds() -> float:
    """Seconds between log lines: ``FREQBENCH_LOG_SECONDS`` (a finite number >= 0), else 30."""
    return float(from_environment("FREQBENCH_LOG_SECONDS", 30, NumberRange(float, 0)))


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class Progress:
    """``update(n)`` as work gets done; ``note(text)`` says what is being done now."""

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str = "it",
        enabled: bool = True,
        estimate: bool = True,
    ) -> None:
        """``estimate``: say how long is left, from the work done and the work left; off for
        units that take unequal time (a task of AutoAttack and one of clean accuracy)."""
        self.total, self.desc, self.unit, self.enabled = total, desc, unit, enabled
        self.estimate = estimate
        self.done, self.text = 0, ""
        self.start = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._bar = None
        self._send = _reporter
        self._terminal = enabled and sys.stderr.isatty() and self._send is None
        if not enabled:
            return
        if self._terminal:
            from tqdm.auto import tqdm

            # Without an estimate, tqdm's own bar would still extrapolate a time left.
            plain = None if estimate else "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"
            self._bar = tqdm(
                total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True,
                bar_format=plain,
            )  # fmt: skip
        interval = 1.0 if self._terminal else REPORT_SECONDS if self._send else log_seconds()
        self._beat = threading.Thread(target=self._heartbeat, args=(interval,), daemon=True)
        self._beat.start()

    def _heartbeat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            with self._lock:
                if self._bar is not None:
                    self._bar.refresh()
                else:
                    self._log()

    def line(self, final: bool = False) -> str:
        """The state as one line: count, share, elapsed, and the time left when it can tell."""
        elapsed = time.monotonic() - self.start
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        if final:
            timing = f"in {_duration(elapsed)}"
        elif self.estimate and self.done and self.total:
            left = elapsed / self.done * (self.total - self.done)
            timing = f"{_duration(elapsed)} elapsed, about {_duration(left)} left"
        else:
            timing = f"{_duration(elapsed)} elapsed"
        text = f", {self.text}" if self.text else ""
        return f"{self.desc}: {count} {self.unit}{share}{text}, {timing}"

    def _log(self, final: bool = False) -> None:
        if self._send is not None:
            self._send(self.line(final))
        else:
            print(self.line(final), file=sys.stderr, flush=True)

    def event(self, text: str) -> None:
        """Say something that happened (a task started or ended) on a line of its own, now."""
        if not self.enabled:
            return
        with self._lock:
            if self._bar is not None:
                self._bar.write(text, file=sys.stderr)
            else:
                print(text, file=sys.stderr, flush=True)

    def update(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            if self._bar is not None:
                self._bar.update(n)

    def advance_to(self, done: int) -> None:
        """The work done so far is ``done`` (never moves back)."""
        with self._lock:
            step = done - self.done
            if step > 0:
                self.done = done
                if self._bar is not None:
                    self._bar.update(step)

    def note(self, text: str) -> None:
        with self._lock:
            self.text = text
            if self._bar is not None:
                self._bar.set_postfix_str(text, refresh=False)

    def add_total(self, n: int) -> None:
        """More work became known (e.g. rows trained, whose blocks now run)."""
        with self._lock:
            self.total = (self.total or 0) + n
            if self._bar is not None:
                self._bar.total = self.total
                self._bar.refresh()

    def close(self) -> None:
        if not self.enabled or self._stop.is_set():
            return
        self._stop.set()
        with self._lock:
            if self._bar is not None:
                self._bar.close()
            else:
                self._log(final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
