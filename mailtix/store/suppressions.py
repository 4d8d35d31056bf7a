"""Addresses held back from automatic mail after a permanent bounce: which are in force (a
suppression lasts ``tickets.suppression_days`` from its bounce), and clearing one by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mailtix.domain.vocabulary import EventType
from mailtix.store.models import Suppression, database_proxy
from mailtix.store.tickets import add_event, get_ticket


@dataclass(frozen=True)
class Held:
    address: str
    reason: str
    ticket_id: int | None
    since: datetime
    until: datetime


def in_force(now: datetime, days: int) -> list[Held]:
    """The suppressions not yet expired at ``now``, oldest first."""
    query = (
        Suppression.select()
        .where(Suppression.created_at > now - timedelta(days=days))
        .order_by(Suppression.created_at, Suppression.id)
    )
    return [
        Held(s.address, s.reason, s.ticket_id, s.created_at, s.created_at + timedelta(days=days))
        for s in query
    ]


def clear(address: str, now: datetime, actor: str) -> bool:
    """Remove the suppression of ``address`` (expired or not); False if there is none. The
    ticket whose bounce made it records who cleared it."""
    with database_proxy.atomic():
        row = Suppression.get_or_none(Suppression.address == address.strip().lower())
        if row is None:
            return False
        ticket = get_ticket(row.ticket_id) if row.ticket_id else None
        row.delete_instance()
        if ticket is not None:
            add_event(ticket, EventType.UNSUPPRESSED, f"{row.address}: cleared by hand", now, actor)
    return True
