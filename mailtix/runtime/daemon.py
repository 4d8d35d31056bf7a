"""``mailtix run``: APScheduler 3.x runs one job per mailbox and one for the timed jobs
(``lifecycle.jobs``, every minute) until SIGTERM/SIGINT; the outbox sender (``app.start_sender``:
a child process) sends whenever a poll batch or a timed job queued mail, and every
OUTBOX_INTERVAL seconds for retries. Where the server has IMAP IDLE, a mailbox job stays in IDLE
between polls and polls again as soon as the server reports new mail. With ``[lmtp] listen``,
the MTA also delivers to it over LMTP (``runtime.lmtp``), drained first when it stops.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from mailtix.config.model import MailboxConfig
from mailtix.config.operations import config_secrets
from mailtix.domain.errors import MailtixError
from mailtix.domain.log_lines import log_context
from mailtix.domain.workers import WORKER
from mailtix.outbound.sender_process import SenderProcess
from mailtix.outbound.sender_thread import SenderThread
from mailtix.runtime.app import App, open_source, start_sender, stop_sender
from mailtix.runtime.exposure import exposure_warnings
from mailtix.runtime.health import BEAT_SECONDS, HealthRecorder
from mailtix.runtime.poller import poll_mailbox
from mailtix.runtime.reload import ConfigWatcher
from mailtix.runtime.sd_notify import notify, watchdog_seconds
from mailtix.store.locks import mailbox_lock

if TYPE_CHECKING:
    from mailtix.runtime.lmtp import LmtpServer
    from mailtix.runtime.metrics import Metrics

log = logging.getLogger(__name__)

OUTBOX_INTERVAL = 10  # seconds
RELOAD_INTERVAL = 2  # seconds between looks at the rule files
MAX_BACKOFF = 900  # seconds: the longest wait before trying a failing mailbox again
JOBS_INTERVAL = 60  # seconds between runs of the timed jobs (mailtix.lifecycle.jobs)


class Daemon:
    def __init__(self, app: App) -> None:
        self.app = app
        self.stopping = threading.Event()
        self.scheduler = BackgroundScheduler(timezone=UTC)
        # the heartbeat has a thread of its own: IDLE mailbox jobs hold the others for minutes
        self.scheduler.add_executor(ThreadPoolExecutor(1), "beat")
        self.watcher = ConfigWatcher(app.config)
        self.sender: SenderProcess | SenderThread | None = None
        self.failures: dict[str, int] = {}  # mailbox -> consecutive failed polls
        self.resume_at: dict[str, float] = {}  # mailbox -> monotonic time of the next try
        self.health = HealthRecorder(WORKER, app.clock, secrets=config_secrets(app.config))
        self.metrics: Metrics | None = None
        self.lmtp: LmtpServer | None = None

    def run_forever(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.start()
        lmtp = f"; LMTP on port {self.lmtp.port}" if self.lmtp is not None else ""
        log.warning(
            "mailtix running: %d mailbox(es)%s; stop with SIGTERM or Ctrl-C",
            len(self.app.config.mailboxes), lmtp,
        )  # fmt: skip
        while not self.stopping.wait(1.0):
            pass
        self.stop()

    def start(self) -> None:
        for line in exposure_warnings(self.app.config):  # not errors: the admin decides
            log.warning("%s", line.removeprefix("warning: "))
        for mailbox in (m for m in self.app.config.mailboxes if m.polled):  # not: LMTP delivers
            self._every(mailbox.poll_interval, self.watch_mailbox, f"mailbox:{mailbox.name}",
                        args=[mailbox])  # fmt: skip
        self._every(RELOAD_INTERVAL, self.reload_rules, "reload", now=False)
        self._every(JOBS_INTERVAL, self.run_timed_jobs, "jobs", now=False)
        watchdog = watchdog_seconds()
        beat_every = min(BEAT_SECONDS, watchdog or BEAT_SECONDS)
        self._every(beat_every, self.beat, "beat", now=False, executor="beat")
        listen = self.app.config.metrics.address
        if listen is not None:
            from mailtix.runtime.metrics import start_metrics  # prometheus-client: only if asked

            names = [m.name for m in self.app.config.mailboxes if m.polled]
            self.metrics = start_metrics(listen, self.health, names, self.app.clock)
        self.sender = start_sender(self.app, OUTBOX_INTERVAL)  # before anything queues mail
        self._start_lmtp()
        self.scheduler.start()
        notify("READY=1")
        self.beat()  # the first heartbeat, after READY=1

    def _start_lmtp(self) -> None:
        """With ``[lmtp] listen``: the MTA delivers to this process too (``runtime.lmtp``)."""
        address = self.app.config.lmtp.address
        if address is None:
            return
        from mailtix.runtime.lmtp import LmtpServer  # aiosmtpd: only if asked

        try:
            self.lmtp = LmtpServer(self.app.config, self.app.pipeline, address,
                                   self.kick_outbox, self._delivered).start()  # fmt: skip
        except MailtixError:
            if self.sender is not None:
                stop_sender(self.app, self.sender)
            raise

    def _delivered(self, mailbox: str, kind: str) -> None:
        """One mail delivered by LMTP: counted in mailtix_mails_in like a polled one."""
        if self.metrics is not None:
            self.metrics.mails_in.labels(mailbox, kind).inc()

    def _every(
        self, seconds: float, func: Callable[..., None], job_id: str, *, now: bool = True,
        args: list[object] | None = None, executor: str = "default",
    ) -> None:  # fmt: skip
        """An interval job that never overlaps itself, runs late rather than never, and (with
        ``now``) runs once at start."""
        first = {"next_run_time": datetime.now(UTC)} if now else {}  # None would pause it
        self.scheduler.add_job(
            func, "interval", seconds=seconds, id=job_id, args=args or [], max_instances=1,
            coalesce=True, misfire_grace_time=None, executor=executor, **first,
        )  # fmt: skip

    def run_timed_jobs(self) -> None:
        """SLA escalation, reminders, auto-resolve/close and the digest when due (its cron
        schedule is checked against the store, so it goes out once however often this runs)."""
        from mailtix.lifecycle.jobs import run_jobs

        try:
            for result in run_jobs(self.app, self.app.clock()):
                if result.done or result.errors:
                    log.info("%s", result.line())
            self.kick_outbox()
        except Exception:
            log.exception("timed jobs failed; trying again in %d s", JOBS_INTERVAL)

    def beat(self) -> None:
        """From the scheduler: systemd's watchdog hears the scheduler runs; the store's
        heartbeat (for ``mailtix status``) is written every BEAT_SECONDS."""
        notify("WATCHDOG=1")
        self.health.beat()

    def reload_rules(self) -> None:
        fresh = self.watcher.check()
        if fresh is not None:
            self.app.config = fresh
            self.app.pipeline.config = fresh

    def stop(self) -> None:
        self.stopping.set()
        if self.lmtp is not None:
            self.lmtp.stop()  # deliveries in flight are answered; the MTA keeps the rest
        self.scheduler.shutdown(wait=True)
        if self.metrics is not None:
            self.metrics.close()
        if self.sender is not None:
            stop_sender(self.app, self.sender)  # what the last polls queued goes out first
        self.health.stop()
        log.warning("mailtix stopped")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.warning("signal %d: stopping after the current message", signum)
        notify("STOPPING=1")
        self.stopping.set()

    def watch_mailbox(self, mailbox: MailboxConfig) -> None:
        """Poll now; with IDLE, keep watching until the next scheduled poll is due. A mailbox
        that keeps failing (server down, password wrong) is tried less and less often, up to
        every MAX_BACKOFF seconds, so a bad login cannot get the account locked."""
        if time.monotonic() < self.resume_at.get(mailbox.name, 0.0):
            return
        deadline = time.monotonic() + max(1.0, mailbox.poll_interval - 1.0)
        with log_context(mailbox=mailbox.name):
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
        known = isinstance(exc, MailtixError)
        self.health.poll_failed(mailbox.name, str(exc) if known else f"{type(exc).__name__}: {exc}")
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
        started = time.monotonic()
        result = poll_mailbox(mailbox, source, lambda: self.app.pipeline, self.kick_outbox)  # type: ignore[arg-type]
        self.health.poll_done(mailbox.name, result.waiting)
        if self.metrics is not None:
            self.metrics.polled(result, time.monotonic() - started)

    def kick_outbox(self, *_: object) -> None:
        if self.sender is not None:
            self.sender.kick()
