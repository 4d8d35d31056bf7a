"""Wiring: load the config, open the store, build the pipeline; open a mailbox's source; run one
poll cycle over every mailbox. Shared by the CLI, the daemon and the demo.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peewee import Database

from mailtix.config.load import load_config
from mailtix.config.model import Config, MailboxConfig
from mailtix.config.operations import config_secrets
from mailtix.desks.outcome import Outcome, Source
from mailtix.domain.clock import utcnow
from mailtix.domain.errors import MailSourceError, UsageError
from mailtix.domain.log_lines import log_context
from mailtix.outbound.sender_process import SenderProcess
from mailtix.runtime.health import record_poll
from mailtix.runtime.poller import PollResult, poll_mailbox
from mailtix.store import open_store
from mailtix.store.claims import anything_to_send
from mailtix.store.db import is_postgres, sqlite_file
from mailtix.store.locks import mailbox_lock

if TYPE_CHECKING:
    from mailtix.desks.pipeline import Pipeline
    from mailtix.outbound.sender_thread import SenderThread

log = logging.getLogger(__name__)

# poll --once sends what a mailbox with this many new messages or fewer queued after the poll,
# itself: a second interpreter (~0.2 s of CPU to start) pays only for a bigger poll
IN_PROCESS_UP_TO = 20


@dataclass
class App:
    config: Config
    db: Database
    clock: Callable[[], datetime] = utcnow

    def __post_init__(self) -> None:
        self._pipeline: Pipeline | None = None
        self._sent_by: Callable[[], str | None] | None = None
        self._wiring = threading.Lock()  # the daemon's threads may ask for the pipeline at once

    @property
    def pipeline(self) -> Pipeline:
        """Built on first use: its modules are most of what a poll imports, and a poll that
        finds nothing new needs none of them."""
        pipeline = self._pipeline
        if pipeline is None:
            with self._wiring:
                if self._pipeline is None:
                    from mailtix.desks.pipeline import Pipeline

                    self._pipeline = Pipeline(self.config, clock=self.clock)
                    self._pipeline.mailer.sent_by = self._sent_by
                pipeline = self._pipeline
        return pipeline

    @property
    def sent_by(self) -> Callable[[], str | None] | None:
        """Who sends the mail the pipeline queues (``Mailer.sent_by``), kept here so it can
        be set before the pipeline is built."""
        return self._sent_by

    @sent_by.setter
    def sent_by(self, value: Callable[[], str | None] | None) -> None:
        with self._wiring:
            self._sent_by = value
            if self._pipeline is not None:
                self._pipeline.mailer.sent_by = value

    @classmethod
    def open(
        cls, config_path: Path, clock: Callable[[], datetime] = utcnow, *, secrets: bool = True
    ) -> App:
        """``secrets=False`` for commands that only read or mark the store (no server)."""
        config = load_config(config_path, secrets=secrets)
        return cls(config, open_store(config.store.url), clock)

    def mailbox(self, name: str) -> MailboxConfig:
        found = self.config.mailbox(name)
        if found is None:
            names = ", ".join(m.name for m in self.config.mailboxes)
            raise UsageError(f"no mailbox named {name!r} (configured: {names})")
        return found


def open_source(mailbox: MailboxConfig) -> Any:
    if mailbox.maildir is not None:
        from mailtix.inbound.maildir_source import MaildirSource

        return MaildirSource(mailbox)
    from mailtix.inbound.imap_source import ImapSource  # imapclient: only where IMAP is read

    return ImapSource(mailbox)


@dataclass
class CycleResult:
    polls: list[PollResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)
    send_error: str | None = None  # the sender process died: what it sent is not known


def poll_cycle(app: App, *, send: bool = True) -> CycleResult:
    """One poll of every mailbox (a failing one does not stop the others); with ``send``, the
    outbox is drained meanwhile by ``start_sender``'s sender, kicked as messages are committed,
    started only once there is mail to send (``SenderWhenNeeded``)."""
    result = CycleResult()
    if not send:
        _poll_all(app, result, None)
    elif _in_memory(app.db):  # another thread would open a different, empty database
        _poll_all(app, result, None)
        from mailtix.outbound import (
            outbox,  # asyncio and aiosmtplib: loaded only where mail is sent
        )
        from mailtix.outbound.accounts import send_accounts

        result.sent = dict(outbox.drain(send_accounts(app.config), app.clock))
    else:
        sender = SenderWhenNeeded(app)
        try:
            _poll_all(app, result, sender.kick, sender.listed)
        finally:
            result.sent = dict(sender.finish())
            result.send_error = sender.error
    return result


class SenderWhenNeeded:
    """``poll --once``'s sender, started only when there is mail to send: at once when the
    outbox already holds some (one indexed read), else when a mailbox with more than
    IN_PROCESS_UP_TO new messages queues its first mail, so that mail and the rest go out
    while the poll goes on (``start_sender``). Otherwise no second interpreter starts: what a
    small poll queued, and what fell due meanwhile, is sent by this process after the poll
    (nothing else runs then to share the GIL with)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.sender: SenderProcess | SenderThread | None = None
        self.error: str | None = None
        self._failed = False
        self._small = True  # the mailbox being polled has few new messages
        if anything_to_send(app.clock()):
            self._start()
        else:
            app.sent_by = self._queued

    def listed(self, fresh: int) -> None:
        """The mailbox about to be read has ``fresh`` new messages."""
        self._small = fresh <= IN_PROCESS_UP_TO

    def _queued(self) -> str | None:
        """Who sends the mail being queued (``Mailer.sent_by``): the sender process, started
        at the first such mail of a big poll; None (anyone: this process after the poll) in
        a small one."""
        return None if self._small else self._start()

    def _start(self) -> str | None:
        """The sender's worker id, started now if need be; None if it cannot start (the mail
        is queued for anyone, and this process sends it after the poll)."""
        if self.sender is None and not self._failed:
            try:
                self.sender = start_sender(self.app)
            except OSError as exc:  # e.g. no process can be made now: the poll goes on
                log.error("cannot start the outbox sender (%s); sending after the poll", exc)
                self._failed = True
                self.app.sent_by = None
        return self.sender.worker if self.sender is not None else None

    def kick(self, *_: object) -> None:
        if self.sender is not None:
            self.sender.kick()

    def finish(self) -> Counter[str]:
        if self.sender is not None:
            counts = stop_sender(self.app, self.sender)
            self.error = self.sender.error
            return counts
        self.app.sent_by = None
        if not anything_to_send(self.app.clock()):
            return Counter()
        from mailtix.outbound import outbox  # asyncio and aiosmtplib: only when mail is due
        from mailtix.outbound.accounts import send_accounts

        return outbox.drain(send_accounts(self.app.config), self.app.clock)


def start_sender(app: App, interval: float | None = None) -> SenderProcess | SenderThread:
    """The outbox sender for polling: a child process (``sender_process``) when the config is a
    file and the clock the real one, else a thread (``sender_thread``); with ``interval``, it
    also drains every that many seconds (retries). Until ``stop_sender``, the app's mailer
    queues mail already claimed by it (``Mailer.sent_by``). Not for an in-memory store."""
    sender: SenderProcess | SenderThread
    if app.config.path.is_file() and app.clock is utcnow:
        sender = SenderProcess(app.config.path, interval).start()
    else:
        from mailtix.outbound.accounts import send_accounts
        from mailtix.outbound.sender_thread import SenderThread

        sender = SenderThread(send_accounts(app.config), app.clock, interval).start()
    app.sent_by = lambda: sender.worker
    return sender


def stop_sender(app: App, sender: SenderProcess | SenderThread) -> Counter[str]:
    """Mail is queued for any drain again; the sender sends what is due and stops (its counts;
    ``sender.error`` says if it died)."""
    app.sent_by = None
    return sender.finish()


def _poll_all(
    app: App,
    result: CycleResult,
    on_commit: Callable[..., None] | None,
    on_listed: Callable[[int], None] | None = None,
) -> None:
    for mailbox in (m for m in app.config.mailboxes if m.polled):  # not: LMTP delivers it
        try:
            with log_context(mailbox=mailbox.name), mailbox_lock(mailbox.name) as mine:
                if not mine:  # a running daemon (or another host) is polling it right now
                    log.warning("%s: another worker is polling it; skipped", mailbox.name)
                    continue
                with open_source(mailbox) as source:
                    poll = poll_mailbox(mailbox, source, lambda: app.pipeline, on_commit,
                                        on_listed)  # fmt: skip
                    result.polls.append(poll)
            record_poll(mailbox.name, None, poll.waiting)
        except MailSourceError as exc:
            log.error("%s", exc)
            result.errors.append(str(exc))
            record_poll(mailbox.name, str(exc), secrets=config_secrets(app.config))
        except Exception as exc:  # a dropped connection mid-poll: the next cycle resumes
            log.exception("polling %s failed", mailbox.name)
            result.errors.append(f"{mailbox.name}: {type(exc).__name__}: {exc}")
            error = f"{type(exc).__name__}: {exc}"
            record_poll(mailbox.name, error, secrets=config_secrets(app.config))


def _in_memory(db: Database) -> bool:
    return not is_postgres(db) and sqlite_file(db) is None


def ingest(app: App, mailbox_name: str, raw: bytes) -> Outcome:
    """One message from an MTA pipe or a file, through the same pipeline as polling; no folder
    holds it, so a spam or ignored one is kept in the store (``Source.folderless``)."""
    app.mailbox(mailbox_name)
    return app.pipeline.process(raw, Source(mailbox_name, folderless=True))
