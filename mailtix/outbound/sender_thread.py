"""The outbox sender as a thread of its own: it drains the outbox whenever it is kicked (a poll
batch was committed, a timed job queued mail) and every ``interval`` seconds (rows waiting for
their retry), so acknowledgements go out while the next batch is still being read instead of
after the last one. ``sender_process`` runs this loop in a child process for ``poll --once``
and ``mailtix run``; a thread beside the poller is used where a second interpreter cannot be
(a fake clock, a config that is not a file; see ``app.start_sender``).

The crash bound is ``outbox.drain``'s: each row marked sent right after the server took it, one
DATA at a time. On SQLite the sender's writes and the poller's queue for the store's in-process
writer lock (``store.db``).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from types import TracebackType

from mailtix.config.model import SmtpConfig
from mailtix.domain.workers import WORKER
from mailtix.outbound import outbox
from mailtix.outbound.accounts import SendAccounts
from mailtix.store.models import database_proxy

log = logging.getLogger(__name__)


class SenderThread:
    def __init__(
        self,
        smtp: SendAccounts | SmtpConfig,
        clock: Callable[[], datetime],
        interval: float | None = None,
    ) -> None:
        self.smtp = smtp
        self.clock = clock
        self.interval = interval  # None: only when kicked (and once more on finish)
        self.counts: Counter[str] = Counter()
        self.error: str | None = None  # a thread cannot die on its own; kept for the interface
        self._wake = threading.Event()
        self._finishing = False
        self._thread = threading.Thread(target=self._run, name="mailtix-outbox", daemon=True)

    def start(self) -> SenderThread:
        self._wake.set()  # whatever was already due goes out at once
        self._thread.start()
        return self

    def kick(self, *_: object) -> None:
        """Drain now (or right after the current round)."""
        self._wake.set()

    def finish(self) -> Counter[str]:
        """One last round for what is due now, then stop; returns what was sent in all."""
        self._finishing = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        return self.counts

    def __enter__(self) -> SenderThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.finish()

    @property
    def worker(self) -> str:
        """The worker id its claims carry (this process's)."""
        return WORKER

    def _run(self) -> None:
        state = outbox.SenderState.open()  # its sent marks, kept from one drain to the next
        try:
            while True:
                self._wake.wait(self.interval)
                self._wake.clear()
                last = self._finishing  # read before the round: a kick after it gets one more
                self._round(state)
                if last:
                    return
        finally:
            try:
                state.close()  # the marks into the store for good (or left for the next drain)
            finally:
                database_proxy.close()  # this thread's own connection

    def _round(self, state: outbox.SenderState) -> None:
        try:
            counts = outbox.drain(self.smtp, self.clock, state=state)
        except Exception:  # the rows stay due; the next round tries again
            log.exception("outbox drain failed; trying again on the next round")
            return
        if counts:
            log.info("outbox: %s", dict(counts))
        self.counts.update(counts)
