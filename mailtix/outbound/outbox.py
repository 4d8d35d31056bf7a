"""Drain the outbox: send due rows over ``[smtp] connections`` SMTP connections (default 2);
4xx and connection trouble are retried with capped exponential backoff, 5xx (and TLS failures)
mark the row failed and say so on the ticket.

Several workers: a row is sent by the worker that claimed it (status "sending", with the worker
and time). Mail queued beside a running sender is claimed by it from the start
(``mailer.Mailer.sent_by``), so it finds its rows with a read (``SenderState.given``); other
rows are claimed by one UPDATE that only takes rows still claimable (``store.claims`` has the
statements), so the write lock of a SQLite store is held only for that UPDATE (the poller
commits beside the sender). A live sender renews its claims every RENEW_CLAIMS; a claim left
by a worker that died is taken over after ``CLAIM_LEASE``, at once when it ran on this host.

Crash bound: a row is marked sent right after the server accepted it, and the connections hand
the server their message data one at a time (``smtp_sender``'s handover), each marked before
the next, so a process crash repeats at most one message however many connections there are.
How the mark is kept safe from a crash is ``sent_marks``'s job.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailtix.config.model import SmtpConfig
from mailtix.domain.clock import utcnow
from mailtix.domain.errors import SendError
from mailtix.domain.faults import fault_point
from mailtix.domain.vocabulary import EventType
from mailtix.domain.workers import HOST, WORKER, local_worker_alive
from mailtix.outbound.senders import Sender, open_sender
from mailtix.outbound.sent_marks import DirectMarks, JournalMarks, marks_for_store, recover_journals
from mailtix.store import claims
from mailtix.store.claims import Pending
from mailtix.store.db import write_if_free
from mailtix.store.models import OutboxItem, database_proxy
from mailtix.store.tickets import add_event, get_ticket

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(days=3)
CLAIM_LEASE = timedelta(minutes=10)  # a claim older than this belongs to a dead worker
RENEW_CLAIMS = timedelta(minutes=1)  # a live sender renews its claims this often
CLAIM_BATCH = 20  # rows claimed at a time: what a worker that dies leaves claimed


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at one hour."""
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), MAX_RETRY)


def claim(
    now: datetime, limit: int = CLAIM_BATCH, dead: Sequence[str] | None = None
) -> list[Pending]:
    """Take up to ``limit`` due rows for this worker (status "sending"): rows waiting to be
    sent, and rows claimed by a worker past its lease or by ``dead`` (the local workers that
    died, as ``take_over_dead`` found them; looked up here when not given)."""
    dead = take_over_dead() if dead is None else list(dead)
    return claims.take(WORKER, now, CLAIM_LEASE, limit, dead)


def take_over_dead() -> list[str]:
    """The local workers that died holding claims, after applying the sent-mark journals of
    the dead (their rows can then be claimed without being sent again). Once per drain."""
    dead = dead_local_workers()
    recover_journals()  # after the dead were listed: a drain among them has finished writing
    return dead


def dead_local_workers() -> list[str]:
    """Claims held by processes on this host that no longer run (they were killed): taken
    over at once instead of after the lease."""
    return [
        worker
        for worker in claims.claimants(HOST)
        if worker != WORKER and not local_worker_alive(worker)
    ]


def release(items: list[Pending]) -> None:
    """Hand claimed rows that were not tried back to the queue."""
    claims.hand_back([i.id for i in items])


def drain(
    smtp: SmtpConfig,
    clock: Callable[[], datetime] = utcnow,
    *,
    connections: int | None = None,
    state: SenderState | None = None,
) -> Counter[str]:
    """Send everything due now over up to ``connections`` (default ``smtp.connections``)
    connections; returns counts of sent / deferred / failed. A sender that drains again and
    again passes its ``state`` (then only flushed if the store is free, not closed, here)."""
    own = state is None
    feed = _Feed(clock, state or SenderState.open())
    try:
        asyncio.run(_drain(smtp, feed, max(1, connections or smtp.connections)))
    finally:
        try:
            if own:
                feed.state.close()
            else:
                feed.state.marks.flush(wait=False)
        finally:
            release(list(feed.queue))
    return feed.counts


@dataclass
class SenderState:
    """What a sender keeps from one drain to the next: its sent-mark journal, and the rows
    claimed by it (queued so by ``mailer.Mailer.sent_by``, or claimed) that it has handed to a
    connection: they stay "sending" in the store until their marks are flushed, and must not
    go out again."""

    marks: DirectMarks | JournalMarks
    handed: set[int] = field(default_factory=set)
    renewed: datetime | None = None  # when its claims were last renewed (``renew``)

    @classmethod
    def open(cls) -> SenderState:
        return cls(marks_for_store())

    def renew(self, now: datetime) -> None:
        """Keep this worker's claims inside CLAIM_LEASE while it lives: mail queued for it may
        wait behind a long backlog, and a claim past the lease is anyone's. At most every
        RENEW_CLAIMS, and only when the store is free at once (else at the next refill)."""
        if self.renewed is not None and now - self.renewed < RENEW_CLAIMS:
            return
        if write_if_free(lambda: claims.renew(WORKER, now)):
            self.renewed = now

    def close(self) -> None:
        self.marks.close()

    def given(self, limit: int = CLAIM_BATCH) -> list[Pending]:
        """Up to ``limit`` rows claimed by this worker (queued for it, or claimed in an earlier
        drain) that it has not handed out: found with a read, no claim (no write) needed."""
        mine = claims.held_by(WORKER)
        self.handed &= mine  # the others were flushed as sent, or failed and went back
        return claims.load_pending(sorted(mine - self.handed)[:limit])


@dataclass
class _Feed:
    """The rows to send, shared by the connections; each row is handed to one of them: first
    those queued for this worker, then those it claims."""

    clock: Callable[[], datetime]
    state: SenderState
    counts: Counter[str] = field(default_factory=Counter)
    queue: deque[Pending] = field(default_factory=deque)
    dead: list[str] | None = None  # local workers that died holding claims (looked up once)
    closed: bool = False  # the server refuses us: everything due was deferred

    def refill(self) -> bool:
        self.state.renew(self.clock())
        fresh = self.state.given()
        if not fresh:
            if self.dead is None:
                self.dead = take_over_dead()
            fresh = claim(self.clock(), dead=self.dead)
        self.state.handed.update(i.id for i in fresh)  # sent or not, never handed out again
        self.queue.extend(fresh)
        return bool(fresh)

    def next(self) -> Pending | None:
        if self.closed or not (self.queue or self.refill()):
            return None
        return self.queue.popleft()

    def give_back(self, item: Pending) -> None:
        self.queue.appendleft(item)

    def defer_rest(self, exc: SendError) -> None:
        """The server will not take mail now: defer what is queued and due (not in flight)."""
        self.closed = True
        self.refill()
        items, self.queue = list(self.queue), deque()
        _defer_all(items, exc, self.clock(), self.counts)


async def _drain(smtp: SmtpConfig, feed: _Feed, connections: int) -> None:
    feed.refill()
    connections = min(connections, len(feed.queue))  # no more connections than rows
    handover = asyncio.Lock()  # one DATA at a time, marked before the next (crash bound)
    await asyncio.gather(*(_connection(smtp, feed, n, handover) for n in range(connections)))


async def _connection(smtp: SmtpConfig, feed: _Feed, number: int, handover: asyncio.Lock) -> None:
    """One connection taking rows from ``feed``; reconnects when the server hung up after
    answering at least one row on it (e.g. Postfix's smtpd_hard_error_limit)."""
    while not feed.closed:
        try:
            async with open_sender(smtp, handover) as sender:
                hung_up = await _send_from(sender, feed)
        except SendError as exc:  # could not even connect
            if number == 0:  # the others may be refused for their number; this one is not
                feed.defer_rest(exc)
            return
        if not hung_up:
            return


async def _send_from(sender: Sender, feed: _Feed) -> bool:
    """Send rows over one open connection; True when the server hung up part-way."""
    answered = 0
    while (item := feed.next()) is not None:

        def accepted(item: Pending = item) -> None:  # the server has it: mark it at once
            fault_point("during-send")
            feed.state.marks.mark(item, feed.clock())

        try:
            await sender.send(item.envelope_from, item.recipients, item.rfc822, accepted)
        except SendError as exc:
            if answered > 0 and not exc.permanent and exc.connection_lost:
                # e.g. Postfix drops a client after smtpd_hard_error_limit (20) refused
                # recipients: not this message's fault, so no attempt is counted
                feed.give_back(item)
                return True
            _record_failure(item, exc, feed.clock(), feed.counts)
            if not exc.permanent and exc.connection_lost:
                feed.defer_rest(exc)
                return False
            answered += 1
            continue
        feed.counts["sent"] += 1
        answered += 1
    return False


def _record_failure(sent: Pending, exc: SendError, now: datetime, counts: Counter[str]) -> None:
    with database_proxy.atomic():
        item = OutboxItem.get_by_id(sent.id)
        item.attempts += 1
        item.last_error = str(exc)[:2000]
        if exc.permanent or now - item.created_at > GIVE_UP_AFTER:
            item.status = "failed"
            counts["failed"] += 1
            ticket = get_ticket(item.ticket_id) if item.ticket_id else None
            if ticket is not None:
                detail = f"{item.kind} to {item.recipient_key}: {exc}"
                add_event(ticket, EventType.MAIL_FAILED, detail, now)
            log.error("outbox %d failed for good: %s", item.id, exc)
        else:
            item.status, item.claimed_by, item.claimed_at = "pending", "", None
            item.next_attempt_at = now + backoff(item.attempts)
            counts["deferred"] += 1
            log.warning("outbox %d deferred: %s", item.id, exc)
        item.save()


def _defer_all(items: list[Pending], exc: SendError, now: datetime, counts: Counter[str]) -> None:
    for item in items:
        _record_failure(item, SendError(str(exc), permanent=False), now, counts)
