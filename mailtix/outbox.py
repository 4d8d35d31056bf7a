"""Drain the outbox: send due rows over one SMTP connection; 4xx and connection trouble are
retried with capped exponential backoff, 5xx (and TLS failures) mark the row failed and say so
on the ticket. A row is marked sent right after the server accepted it, so a crash can repeat at
most that one message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from mailtix.clock import utcnow
from mailtix.config import SmtpConfig
from mailtix.errors import SendError
from mailtix.senders import open_sender
from mailtix.store.models import OutboxItem, database_proxy
from mailtix.store.tickets import add_event, get_ticket

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(days=3)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at one hour."""
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), MAX_RETRY)


def due(now: datetime, limit: int = 500) -> list[OutboxItem]:
    return list(
        OutboxItem.select()
        .where((OutboxItem.status == "pending") & (OutboxItem.next_attempt_at <= now))
        .order_by(OutboxItem.id)
        .limit(limit)
    )


def drain(smtp: SmtpConfig, clock: Callable[[], datetime] = utcnow) -> Counter[str]:
    """Send everything due now; returns counts of sent / deferred / failed."""
    counts: Counter[str] = Counter()
    while True:
        batch = due(clock())
        if not batch:
            return counts
        sent_before = counts["sent"]
        hung_up = asyncio.run(_send_batch(smtp, batch, clock, counts))
        if counts["sent"] == sent_before and not hung_up:  # nothing went out: rest for later
            return counts


async def _send_batch(
    smtp: SmtpConfig, batch: list[OutboxItem], clock: Callable[[], datetime], counts: Counter[str]
) -> bool:
    """Send ``batch`` over one connection; True when the server hung up part-way (the rest of
    the batch is untouched and still due, for a new connection)."""
    try:
        async with open_sender(smtp) as sender:
            for index, item in enumerate(batch):
                try:
                    await sender.send(item.envelope_from, item.recipients, bytes(item.rfc822))
                except SendError as exc:
                    if index > 0 and not exc.permanent and _connection_lost(exc):
                        # e.g. Postfix drops a client after smtpd_hard_error_limit (20) refused
                        # recipients: not this message's fault, so no attempt is counted
                        return True
                    _record_failure(item, exc, clock(), counts)
                    if not exc.permanent and _connection_lost(exc):
                        _defer_all(batch[index + 1 :], exc, clock(), counts)
                        return False
                    continue
                _mark_sent(item, clock())
                counts["sent"] += 1
    except SendError as exc:  # could not even connect
        _defer_all([i for i in batch if i.status == "pending"], exc, clock(), counts)
    return False


def _connection_lost(exc: SendError) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("connect", "disconnect", "timed out", "timeout"))


def _mark_sent(item: OutboxItem, now: datetime) -> None:
    with database_proxy.atomic():
        item.status, item.sent_at, item.attempts = "sent", now, item.attempts + 1
        item.last_error = ""
        item.save()


def _record_failure(item: OutboxItem, exc: SendError, now: datetime, counts: Counter[str]) -> None:
    with database_proxy.atomic():
        item.attempts += 1
        item.last_error = str(exc)[:2000]
        if exc.permanent or now - item.created_at > GIVE_UP_AFTER:
            item.status = "failed"
            counts["failed"] += 1
            ticket = get_ticket(item.ticket_id) if item.ticket_id else None
            if ticket is not None:
                add_event(ticket, "mail-failed", f"{item.kind} to {item.recipient_key}: {exc}", now)
            log.error("outbox %d failed for good: %s", item.id, exc)
        else:
            item.next_attempt_at = now + backoff(item.attempts)
            counts["deferred"] += 1
            log.warning("outbox %d deferred: %s", item.id, exc)
        item.save()


def _defer_all(
    items: list[OutboxItem], exc: SendError, now: datetime, counts: Counter[str]
) -> None:
    for item in items:
        _record_failure(item, SendError(str(exc), permanent=False), now, counts)


def retry(item_id: int | None, now: datetime) -> int:
    """Make one row (or every pending/failed row when None) due now; returns how many."""
    query = OutboxItem.update(status="pending", next_attempt_at=now)
    if item_id is None:
        return int(query.where(OutboxItem.status.in_(["pending", "failed"])).execute())
    return int(query.where(OutboxItem.id == item_id).execute())
