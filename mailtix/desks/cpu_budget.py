"""A CPU-time budget for handling one message: a deadline on the thread's own CPU clock,
checked between the expensive steps. Cooperative on purpose: the pipeline runs in the main
thread (``poll --once``, ``ingest``) and in APScheduler's worker threads (``run``), and signal
timers only reach the main thread; each step is bounded by itself (parse caps, HTML caps), and
the budget turns an unforeseen combination into a quarantine instead of a blocked mailbox.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class OverBudget(Exception):
    """Handling one message used more CPU time than its budget; the message is quarantined."""


class CpuBudget:
    def __init__(self, seconds: float, clock: Callable[[], float] | None = None) -> None:
        """``clock``: the CPU clock to count by; by default the thread's, which is read only
        once the wall clock says the budget may be spent (a thread's CPU time never runs
        ahead of the wall clock, and reading it is a system call, reading the wall clock
        is not)."""
        self.seconds = seconds
        self.clock = clock or time.thread_time
        self.started = self.clock()
        self.elsewhere = 0.0
        self._wall_started = time.perf_counter() if clock is None else None

    def used(self) -> float:
        return self.clock() - self.started + self.elsewhere

    def charge(self, seconds: float) -> None:
        """Count ``seconds`` of CPU spent on the message elsewhere (parsed in a child)."""
        self.elsewhere += max(0.0, seconds)

    def check(self, step: str) -> None:
        """Raise OverBudget when the time used so far is over the budget."""
        wall = self._wall_started
        if wall is not None and time.perf_counter() - wall + self.elsewhere <= self.seconds:
            return
        used = self.used()
        if used > self.seconds:
            raise OverBudget(f"{used:.1f} s of CPU after {step} (budget {self.seconds:g} s)")
