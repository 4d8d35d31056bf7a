"""Drain the outbox: send each due row through the account of its sender (``accounts``:
``[mailbox.smtp]`` or ``[smtp]``), over up to that account's ``connections`` SMTP connections
(default 2); 4xx and connection trouble are retried with capped exponential backoff, 5xx (and
TLS failures) mark the row failed and say so on the ticket. An account with ``max_per_minute``
sends no more than that in any minute, counted in the store across workers (``store.pace``):
rows over the limit go back to "pending", due when the window has room, no attempt counted.

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
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailtix.config.model import SmtpConfig
from mailtix.domain.clock import utcnow
from mailtix.domain.errors import SendError
from mailtix.domain.faults import fault_point
from mailtix.domain.vocabulary import EventType
from mailtix.domain.workers import HOST, WORKER, local_worker_alive
from mailtix.outbound.accounts import Account, SendAccounts
from mailtix.outbound.connections import Connections, close
from mailtix.outbound.senders import Sender, open_sender
from mailtix.outbound.sent_marks import DirectMarks, JournalMarks, marks_for_store, recover_journals
from mailtix.store import claims, pace
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
EMPTY = "nothing to send: the outbox row holds no message (a fault of mailtix)"
CLAIM_BATCH = 20  # rows claimed at a time: what a worker that dies leaves claimed
RESERVATION_TTL = timedelta(seconds=15)  # max_per_minute: reserved sends unused by then lapse


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
    accounts: SendAccounts | SmtpConfig,
    clock: Callable[[], datetime] = utcnow,
    *,
    connections: int | None = None,
    state: SenderState | None = None,
) -> Counter[str]:
    """Send everything due now, each row through its sender's account (an SmtpConfig: all
    through it), over up to ``connections`` (default the account's ``connections``)
    connections per account; returns counts of sent / deferred / failed / waiting (held back
    by ``max_per_minute``). A sender that drains again and again passes its ``state`` (then
    only flushed if the store is free, not closed, here; its event loop and its open
    connections serve the next drain, ``connections``)."""
    if isinstance(accounts, SmtpConfig):
        accounts = SendAccounts.single(accounts)
    own = state is None
    feed = _Feed(clock, state or SenderState.open(), accounts, connections)
    try:
        feed.state.run(_drain(feed))
    finally:
        try:
            if own:
                feed.state.close()
            else:
                feed.state.marks.flush(wait=False)
        finally:
            release(feed.queued())
    return feed.counts


@dataclass
class SenderState:
    """What a sender keeps from one drain to the next: its sent-mark journal, the rows
    claimed by it (queued so by ``mailer.Mailer.sent_by``, or claimed) that it has handed to a
    connection (they stay "sending" in the store until their marks are flushed, and must not
    go out again), its one event loop and the connections open on it (``connections``)."""

    marks: DirectMarks | JournalMarks
    handed: set[int] = field(default_factory=set)
    renewed: datetime | None = None  # when its claims were last renewed (``renew``)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    pool: Connections = field(default_factory=Connections)
    handover: asyncio.Lock = field(default_factory=asyncio.Lock)  # see _drain

    @classmethod
    def open(cls) -> SenderState:
        return cls(marks_for_store())

    def run(self, work: Coroutine[object, object, None]) -> None:
        """Run ``work`` on this sender's event loop (one for its life, as its connections)."""
        self.loop.run_until_complete(work)

    def renew(self, now: datetime) -> None:
        """Keep this worker's claims inside CLAIM_LEASE while it lives: mail queued for it may
        wait behind a long backlog, and a claim past the lease is anyone's. At most every
        RENEW_CLAIMS, and only when the store is free at once (else at the next refill)."""
        if self.renewed is not None and now - self.renewed < RENEW_CLAIMS:
            return
        if write_if_free(lambda: claims.renew(WORKER, now)):
            self.renewed = now

    def close(self) -> None:
        """Close the connections and the loop, and the marks into the store for good."""
        try:
            if not self.loop.is_closed():
                self.loop.run_until_complete(self.pool.close_idle(0))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
                self.loop.run_until_complete(self.loop.shutdown_default_executor())
                self.loop.close()
        finally:
            self.marks.close()

    def given(self, limit: int = CLAIM_BATCH) -> list[Pending]:
        """Up to ``limit`` rows claimed by this worker (queued for it, or claimed in an earlier
        drain) that it has not handed out: found with a read, no claim (no write) needed."""
        mine = claims.held_by(WORKER)
        self.handed &= mine  # the others were flushed as sent, or failed and went back
        return claims.load_pending(sorted(mine - self.handed)[:limit])


@dataclass
class _Feed:
    """The rows to send, shared by the connections, in one queue per account; each row is
    handed to one connection of its account: first those queued for this worker, then those
    it claims. Rows for an account with fewer connections than rows start more (``spawn``)."""

    clock: Callable[[], datetime]
    state: SenderState
    accounts: SendAccounts
    connections: int | None = None  # per account; None: each account's ``connections``
    counts: Counter[str] = field(default_factory=Counter)
    queues: dict[str, deque[Pending]] = field(default_factory=dict)  # by account name
    dead: list[str] | None = None  # local workers that died holding claims (looked up once)
    closed: dict[str, SendError] = field(default_factory=dict)  # accounts whose server refuses
    # us: everything due for them was deferred
    full_until: dict[str, datetime] = field(default_factory=dict)  # max_per_minute reached
    allowance: Counter[str] = field(default_factory=Counter)  # sends reserved, not yet made
    reserved_at: dict[str, datetime] = field(default_factory=dict)  # when they were reserved
    live: Counter[str] = field(default_factory=Counter)  # open connections per account
    spawn: Callable[[Account], None] | None = None

    def queued(self) -> list[Pending]:
        return [item for queue in self.queues.values() for item in queue]

    def refill(self) -> bool:
        self.state.renew(self.clock())
        fresh = self.state.given()
        if not fresh:
            if self.dead is None:
                self.dead = take_over_dead()
            fresh = claim(self.clock(), dead=self.dead)
        self.state.handed.update(i.id for i in fresh)  # sent or not, never handed out again
        touched: dict[str, Account] = {}
        for item in fresh:
            account = self.accounts.for_sender(item.envelope_from)
            self.queues.setdefault(account.name, deque()).append(item)
            touched[account.name] = account
        for account in touched.values():
            self._settle(account)
        return bool(fresh)

    def _settle(self, account: Account) -> None:
        """Rows queued for ``account``: deferred if its server refused us, back in the outbox
        if its minute is full, else sent (with more connections if it has too few)."""
        name = account.name
        if not self.queues.get(name):
            return
        if name in self.closed:
            _defer_all(_take_all(self.queues[name]), self.closed[name], self.clock(), self.counts)
        elif name in self.full_until and self.full_until[name] > self.clock():
            self._wait(account)
        elif self.spawn is not None:
            self.spawn(account)

    def next(self, account: Account) -> Pending | None:
        queue = self.queues.setdefault(account.name, deque())
        if not queue and account.name not in self.closed:
            self.refill()  # rows for other accounts go to their own connections
        if account.name in self.closed or not queue or not self._may_send(account):
            return None
        return queue.popleft()

    def _may_send(self, account: Account) -> bool:
        """Within ``max_per_minute``: sends are reserved in the store a queue at a time; when
        none is granted, the account's rows wait in the outbox until its minute has room."""
        limit, name, now = account.smtp.max_per_minute, account.name, self.clock()
        if not limit:
            return True
        if now - self.reserved_at.get(name, now) > RESERVATION_TTL:
            self.allowance[name] = 0  # counted then, not sent: a slow server must not spread
            # them into the next minute beside another worker's
        if self.allowance[name] <= 0:
            wanted = min(len(self.queues[name]), CLAIM_BATCH)
            granted, free = pace.reserve(account.pace_key, now, limit, wanted)
            if not granted:
                self.full_until[name] = free
                self._wait(account)
                return False
            self.allowance[name], self.reserved_at[name] = granted, now
        self.allowance[name] -= 1
        return True

    def _wait(self, account: Account) -> None:
        items = _take_all(self.queues[account.name])
        until = self.full_until[account.name]
        claims.wait_until([i.id for i in items], until)
        self.counts["waiting"] += len(items)
        log.info(
            "outbox: %s sent its %d a minute; %d mail(s) wait until %s",
            account.name, account.smtp.max_per_minute, len(items), until.isoformat(" ", "seconds"),
        )  # fmt: skip

    def give_back(self, account: Account, item: Pending) -> None:
        self.queues[account.name].appendleft(item)
        if account.smtp.max_per_minute:
            self.allowance[account.name] += 1  # its reserved send was not made

    def defer_rest(self, account: Account, exc: SendError) -> None:
        """``account``'s server will not take mail now: defer what is queued for it and due
        (not in flight); the other accounts go on."""
        self.closed[account.name] = SendError(str(exc), permanent=False)
        self.refill()
        self._settle(account)


def _take_all(queue: deque[Pending]) -> list[Pending]:
    items = list(queue)
    queue.clear()
    return items


async def _drain(feed: _Feed) -> None:
    handover = feed.state.handover  # one DATA at a time, marked before the next (crash bound)
    tasks: set[asyncio.Task[None]] = set()

    def spawn(account: Account) -> None:  # no more connections than rows
        most = max(1, feed.connections or account.smtp.connections)
        for _ in range(min(most, len(feed.queues[account.name])) - feed.live[account.name]):
            number = feed.live[account.name]
            feed.live[account.name] += 1
            tasks.add(asyncio.create_task(_connection(account, feed, number, handover)))

    feed.spawn = spawn
    feed.refill()
    try:
        while tasks:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            tasks.difference_update(done)
            for task in done:
                task.result()  # a failure that is not a send's (e.g. the store is gone) stops
    finally:
        for task in tasks:  # all: their connections are closed, not kept
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await feed.state.pool.close_idle()


async def _connection(account: Account, feed: _Feed, number: int, handover: asyncio.Lock) -> None:
    """One connection of ``account`` taking its rows from ``feed``: one kept open by an earlier
    drain, else a new one; kept open for the next drain when the rows run out. Reconnects when
    the server hung up after answering at least one row on it (e.g. Postfix's
    smtpd_hard_error_limit)."""
    try:
        while account.name not in feed.closed:
            sender = await feed.state.pool.take(account.name)
            if sender is None:
                try:
                    sender = await open_sender(account.smtp, handover, account.name).__aenter__()
                except SendError as exc:  # could not even connect
                    if number == 0:  # the others may be refused for their number; not this one
                        feed.defer_rest(account, exc)
                    return
                feed.state.pool.opened += 1
            try:
                hung_up = await _send_from(sender, feed, account)
            except BaseException:
                await close(sender)
                raise
            if not hung_up and account.name not in feed.closed:
                feed.state.pool.put(account.name, sender)
                return
            await close(sender)
            if not hung_up:  # lost, and what was due for the account deferred
                return
    finally:
        feed.live[account.name] -= 1


async def _send_from(sender: Sender, feed: _Feed, account: Account) -> bool:
    """Send rows over one open connection; True when the server hung up part-way."""
    answered = 0
    while (item := feed.next(account)) is not None:
        if not item.rfc822:  # a letter that was never made: an error to see, never a blank mail
            log.error("outbox row %s holds no message: marked failed, nothing sent", item.id)
            _record_failure(item, SendError(EMPTY, permanent=True), feed.clock(), feed.counts)
            continue

        def accepted(item: Pending = item) -> None:  # the server has it: mark it at once
            fault_point("during-send")
            feed.state.marks.mark(item, feed.clock())

        try:
            await sender.send(item.envelope_from, item.recipients, item.rfc822, accepted)
        except SendError as exc:
            if answered > 0 and not exc.permanent and exc.connection_lost:
                # e.g. Postfix drops a client after smtpd_hard_error_limit (20) refused
                # recipients: not this message's fault, so no attempt is counted
                feed.give_back(account, item)
                return True
            _record_failure(item, exc, feed.clock(), feed.counts)
            if not exc.permanent and exc.connection_lost:
                feed.defer_rest(account, exc)
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
