"""``mailtix run``: APScheduler 3.x runs one job per mailbox, one for the outbox and one for the
timed jobs (``mailtix.jobs``, every minute) until
SIGTERM/SIGINT. Where the server has IMAP IDLE, a mailbox job stays in IDLE between polls and
polls again as soon as the server reports new mail.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from mailtix import outbox
from mailtix.app import App, open_source
from mailtix.config import MailboxConfig
from mailtix.errors import MailtixError
from mailtix.poller import poll_mailbox
from mailtix.reload import ConfigWatcher
from mailtix.store.locks import mailbox_lock

log = logging.getLogger(__name__)

OUTBOX_INTERVAL = 10  # seconds
RELOAD_INTERVAL = 2  # seconds between looks at the rule files
MAX_BACKOFF = 900  # seconds: the longest wait before trying a failing mailbox again
JOBS_INTERVAL = 60  # seconds between runs of the timed jobs (mailtix.jobs)


class Daemon:
    def __init__(self, app: App) -> None:
        self.app = app
        self.stopping = threading.Event()
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.watcher = ConfigWatcher(app.config)
        self.failures: dict[str, int] = {}  # mailbox -> consecutive failed polls
        self.resume_at: dict[str, float] = {}  # mailbox -> monotonic time of the next try

    def run_forever(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.start()
        log.warning(
            "mailtix running: %d mailbox(es); stop with SIGTERM or Ctrl-C",
            len(self.app.config.mailboxes),
        )
        while not self.stopping.wait(1.0):
            pass
        self.stop()

    def start(self) -> None:
        now = datetime.now(UTC)
        for mailbox in self.app.config.mailboxes:
            self.scheduler.add_job(
                self.watch_mailbox,
                "interval",
                seconds=mailbox.poll_interval,
                args=[mailbox],
                id=f"mailbox:{mailbox.name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                next_run_time=now,
            )
        self.scheduler.add_job(
            self.drain_outbox,
            "interval",
            seconds=OUTBOX_INTERVAL,
            id="outbox",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=now,
        )
        self.scheduler.add_job(
            self.reload_rules,
            "interval",
            seconds=RELOAD_INTERVAL,
            id="reload",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.add_job(
            self.run_timed_jobs,
            "interval",
            seconds=JOBS_INTERVAL,
            id="jobs",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        self.scheduler.start()

    def run_timed_jobs(self) -> None:
        """SLA escalation, reminders, auto-resolve/close and the digest when due (its cron
        schedule is checked against the store, so it goes out once however often this runs)."""
        from mailtix.jobs import run_jobs

        try:
            for result in run_jobs(self.app, self.app.clock()):
                if result.done or result.errors:
                    log.info("%s", result.line())
            self.kick_outbox()
        except Exception:
            log.exception("timed jobs failed; trying again in %d s", JOBS_INTERVAL)

    def reload_rules(self) -> None:
        fresh = self.watcher.check()
        if fresh is not None:
            self.app.config = fresh
            self.app.pipeline.config = fresh

    def stop(self) -> None:
        self.stopping.set()
        self.scheduler.shutdown(wait=True)
        log.warning("mailtix stopped")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.warning("signal %d: stopping after the current message", signum)
        self.stopping.set()

    def watch_mailbox(self, mailbox: MailboxConfig) -> None:
        """Poll now; with IDLE, keep watching until the next scheduled poll is due. A mailbox
        that keeps failing (server down, password wrong) is tried less and less often, up to
        every MAX_BACKOFF seconds, so a bad login cannot get the account locked."""
        if time.monotonic() < self.resume_at.get(mailbox.name, 0.0):
            return
        deadline = time.monotonic() + max(1.0, mailbox.poll_interval - 1.0)
        try:
            with mailbox_lock(mailbox.name) as mine:
                if not mine:
                    log.debug("%s: another worker is polling it", mailbox.name)
                    return
                self._watch(mailbox, deadline)
        except Exception as exc:
            self._failed(mailbox, exc)
        else:
            self.failures.pop(mailbox.name, None)

    def _failed(self, mailbox: MailboxConfig, exc: Exception) -> None:
        count = self.failures[mailbox.name] = self.failures.get(mailbox.name, 0) + 1
        wait = min(mailbox.poll_interval * 2 ** (count - 1), MAX_BACKOFF)
        self.resume_at[mailbox.name] = time.monotonic() + wait
        if isinstance(exc, MailtixError):  # a known condition: one line, no traceback
            log.error("%s (failure %d; next try in %d s)", exc, count, wait)
        else:
            log.exception("mailbox %s: poll failed (failure %d; next try in %d s)",
                          mailbox.name, count, wait)  # fmt: skip

    def _watch(self, mailbox: MailboxConfig, deadline: float) -> None:
        with open_source(mailbox) as source:
            self._poll(mailbox, source)
            if not getattr(source, "supports_idle", False):
                return
            while not self.stopping.is_set() and time.monotonic() < deadline:
                remaining = deadline - time.monotonic()
                if source.wait_for_news(remaining, self.stopping.is_set):
                    self._poll(mailbox, source)

    def _poll(self, mailbox: MailboxConfig, source: object) -> None:
        result = poll_mailbox(mailbox, source, self.app.pipeline)  # type: ignore[arg-type]
        if result.handled:
            self.kick_outbox()

    def kick_outbox(self) -> None:
        job = self.scheduler.get_job("outbox")
        if job is not None:
            job.modify(next_run_time=datetime.now(UTC))

    def drain_outbox(self) -> None:
        try:
            counts = outbox.drain(self.app.config.smtp, self.app.clock)
            if counts:
                log.info("outbox: %s", dict(counts))
        except Exception:
            log.exception("outbox drain failed; retrying on schedule")
