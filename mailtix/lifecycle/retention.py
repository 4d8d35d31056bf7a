"""Retention, as three timed jobs (``[privacy]``; each off at 0, the default):

- ``drop_raw``: raw bytes and attachments of tickets closed more than ``keep_raw_days`` ago
  (text and metadata stay);
- ``anonymise_closed``: tickets closed more than ``erase_closed_days`` ago lose their
  addresses, names and text (``privacy.anonymise``);
- ``purge_quarantine``: quarantined mail older than ``quarantine_days``, in the table and, once
  a day, in every mailbox's quarantine folder (over its own connection; see
  ``privacy.mail_copies``).

Each acts on stored state, so running twice does nothing more; each run that changed something
is a ``privacy_event`` with its counts and a log line; each returns its line for
``lifecycle.jobs``. Work per run is bounded (``BATCH``
tickets a run; the daemon runs the jobs every minute and catches up).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from mailtix.domain.addresses import address_key
from mailtix.domain.clock import iso
from mailtix.domain.vocabulary import Status
from mailtix.privacy.anonymise import anonymise_ticket
from mailtix.privacy.pseudonyms import ANONYMISED_DOMAIN, ERASED_DOMAIN
from mailtix.store import settings
from mailtix.store.models import (
    Attachment,
    Customer,
    Message,
    PrivacyEvent,
    QuarantineItem,
    Ticket,
    database_proxy,
)
from mailtix.store.search_index import forget_deleted

log = logging.getLogger(__name__)

BATCH = 500  # tickets per run and job
SWEPT = "privacy.quarantine_folders_swept"  # when the IMAP quarantine folders were last purged
SWEEP_EVERY = timedelta(days=1)
INDEX_DIRTY = "privacy.search_index_dirty"  # "1": anonymised text may linger in the index
INDEX_TIDIED = "privacy.search_index_tidied"  # when it was last rewritten
TIDY_EVERY = timedelta(days=1)


def _record(name: str, counts: dict[str, int], now: datetime) -> str:
    """The counts as a ``privacy_event`` and a log line when anything changed; the job's line."""
    detail = ", ".join(f"{kind} {n}" for kind, n in counts.items())
    if not any(counts.values()):
        return f"{name}: nothing to do"
    PrivacyEvent.create(type="retention", at=now, detail=f"{name}: {detail}")
    log.info("retention %s: %s", name, detail)
    return f"{name}: {detail}"


def _closed_before(cutoff: datetime) -> Any:
    return (Ticket.status == Status.CLOSED) & (Ticket.closed_at < cutoff)


def drop_raw(app: Any, now: datetime) -> str:
    """Raw bytes and attachments of tickets closed more than ``keep_raw_days`` ago."""
    days = app.config.privacy.keep_raw_days
    if days <= 0:
        return "keep-raw: off (keep_raw_days = 0: kept forever)"
    with_raw = Message.select(Message.ticket).where(Message.rfc822.is_null(False))
    with_files = Message.select(Message.ticket).join(
        Attachment, on=(Attachment.message == Message.id)
    )
    holding = Ticket.id.in_(with_raw) | Ticket.id.in_(with_files)
    closed = _closed_before(now - timedelta(days=days))
    query = Ticket.select(Ticket.id).where(closed & holding).order_by(Ticket.id).limit(BATCH)
    tickets = [t.id for t in query]
    counts = {"tickets": len(tickets), "raw messages": 0, "attachments": 0}
    if tickets:
        with database_proxy.atomic():
            messages = Message.select(Message.id).where(Message.ticket.in_(tickets))
            counts["attachments"] = (
                Attachment.delete().where(Attachment.message.in_(messages)).execute()
            )
            counts["raw messages"] = (
                Message.update(rfc822=None)
                .where(Message.ticket.in_(tickets) & Message.rfc822.is_null(False))
                .execute()
            )
    return _record("keep-raw", counts, now)


def _not_pseudonymous() -> Any:
    return ~(Ticket.customer.endswith(f"@{ANONYMISED_DOMAIN}")
             | Ticket.customer.endswith(f"@{ERASED_DOMAIN}"))  # fmt: skip


def anonymise_closed(app: Any, now: datetime) -> str:
    """Tickets closed more than ``erase_closed_days`` ago, anonymised; customer records seen
    last before then and left with no ticket of their own, deleted."""
    days = app.config.privacy.erase_closed_days
    if days <= 0:
        return "anonymise: off (erase_closed_days = 0: kept forever)"
    cutoff = now - timedelta(days=days)
    config = app.config
    keep = {address_key(a) for a in (*config.own_addresses, *(a.email for a in config.agents))}
    query = Ticket.select().where(_closed_before(cutoff) & _not_pseudonymous())
    counts = {"tickets": 0, "people": 0, "customer records": 0}
    for ticket in query.order_by(Ticket.id).limit(BATCH):
        with database_proxy.atomic():
            counts["people"] += anonymise_ticket(ticket, keep, now)
        counts["tickets"] += 1
    _tidy_search_index(counts["tickets"] > 0, now)
    with database_proxy.atomic():
        customers = Ticket.select(Ticket.customer).where(_not_pseudonymous())
        counts["customer records"] = (
            Customer.delete()
            .where((Customer.last_seen < cutoff) & Customer.key.not_in(customers))
            .execute()
        )
    return _record("anonymise", counts, now)


def _tidy_search_index(changed: bool, now: datetime) -> None:
    """After anonymising, rewrite the full-text index (``search_index.forget_deleted``) so no
    dropped word stays in its pages: at most once a day, since it holds the store's write
    lock for a while; a flag in the store remembers that it is due."""
    dirty = settings.get(INDEX_DIRTY)
    if changed and dirty != "1":
        settings.compare_and_set(INDEX_DIRTY, dirty, "1")
        dirty = "1"
    last = settings.get(INDEX_TIDIED)
    if dirty != "1" or (last is not None and abs(now - _naive(last)) < TIDY_EVERY):
        return
    forget_deleted(database_proxy.obj)
    settings.compare_and_set(INDEX_TIDIED, last, iso(now) or "")
    settings.compare_and_set(INDEX_DIRTY, "1", "0")


def purge_quarantine(app: Any, now: datetime) -> str:
    """Quarantined mail older than ``quarantine_days``: rows now, folders once a day."""
    days = app.config.privacy.quarantine_days
    if days <= 0:
        return "quarantine: off (quarantine_days = 0: kept forever)"
    cutoff = now - timedelta(days=days)
    with database_proxy.atomic():
        rows = QuarantineItem.delete().where(QuarantineItem.created_at < cutoff).execute()
    counts = {"rows": int(rows)}
    errors: list[str] = []
    last = settings.get(SWEPT)
    if rows or last is None or abs(now - _naive(last)) >= SWEEP_EVERY:
        from mailtix.privacy.mail_copies import purge_quarantine_folders

        swept = purge_quarantine_folders(app.config, cutoff.date())
        counts["folder messages"] = swept.total
        errors = swept.errors
        if not errors:
            _remember_sweep(last, now)
    return _record("quarantine", counts, now) + "".join(f"; error: {e}" for e in errors)


def _naive(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=None)


def _remember_sweep(last: str | None, now: datetime) -> None:
    settings.compare_and_set(SWEPT, last, iso(now) or "")
