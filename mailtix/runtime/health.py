"""When the daemon tells the store how it is doing (for ``mailtix status``): a heartbeat at most
every BEAT_SECONDS, and a mailbox's poll result when it changes (a first failure, another
error, a recovery, another number of messages left waiting) and otherwise at most every
REFRESH_SECONDS. An idle daemon with IDLE mailboxes writes a few rows a minute, not one a poll.
A store that cannot be written right now costs a log line, never a poll. Configured secrets
are masked in the errors kept (``mailtix status`` shows them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from mailtix.domain.clock import utcnow
from mailtix.domain.log_lines import mask_secrets, maskable
from mailtix.store import health

log = logging.getLogger(__name__)

BEAT_SECONDS = 30
REFRESH_SECONDS = 300

State = tuple[str | None, int | None]  # (error, waiting)


class HealthRecorder:
    def __init__(
        self,
        worker: str,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        secrets: Iterable[str] = (),
    ) -> None:
        self.worker, self.secrets = worker, maskable(secrets)
        self.clock, self.monotonic = clock, monotonic
        self.started_at = clock()
        self.last_success: dict[str, datetime] = {}  # mailbox -> its last good poll (metrics)
        self._written: dict[str, tuple[float, State]] = {}
        self._beat_written: float | None = None
        self._lock = threading.Lock()

    def poll_done(self, mailbox: str, waiting: int | None) -> bool:
        self.last_success[mailbox] = self.clock()
        return self._poll(mailbox, (None, waiting))

    def poll_failed(self, mailbox: str, error: str) -> bool:
        return self._poll(mailbox, (mask_secrets(error, self.secrets), None))

    def _poll(self, mailbox: str, state: State) -> bool:
        """Write the result when it is news; whether it was written."""
        now = self.monotonic()
        with self._lock:
            last = self._written.get(mailbox)
            if last is not None and last[1] == state and now - last[0] < REFRESH_SECONDS:
                return False
            if not _safely(health.record_poll, mailbox, self.clock(), *state):
                return False
            self._written[mailbox] = (now, state)
        return True

    def beat(self, interval: int = BEAT_SECONDS) -> bool:
        """The daemon is alive: written when the last beat is ``interval`` seconds old."""
        now = self.monotonic()
        with self._lock:
            if self._beat_written is not None and now - self._beat_written < interval:
                return False
            if not _safely(health.beat, self.worker, self.started_at, self.clock(), interval):
                return False
            self._beat_written = now
        return True

    def stop(self) -> None:
        _safely(health.stopped, self.worker, self.clock())


def record_poll(
    mailbox: str, error: str | None, waiting: int | None = None, secrets: Iterable[str] = ()
) -> None:
    """One poll's result, written at once (``poll --once``: one row per mailbox per run)."""
    if error is not None:
        error = mask_secrets(error, maskable(secrets))
    _safely(health.record_poll, mailbox, utcnow(), error, waiting)


def _safely(write: Callable[..., None], *args: object) -> bool:
    try:
        write(*args)
    except Exception as exc:  # a locked or lost store: status shows the older facts
        log.warning("health not recorded (%s: %s); trying again later", type(exc).__name__, exc)
        return False
    return True
