"""Every change to a ticket goes through here: ``change`` sets a field, ``add_tag`` adds a tag,
``opened`` records a new ticket, ``record`` what else happened to it. Each saves the row with
what derives from the change and records the event with its typed columns (field, old, new,
actor, reason) beside the human text.

What derives: ``updated_at`` on every field change (and, by ``touch``, when a desk has handled
a mail on the ticket); the SLA due times on opening and on a priority change; ``closed_at``
and ``resolved_at`` on a status change; ``first_response_at`` on the first relayed answer.
The row is written only when one of them changed.
"""

from __future__ import annotations

from datetime import datetime

from mailtix.config.lifecycle import SlaConfig
from mailtix.domain.vocabulary import DONE_STATUSES, EventType, Field, Status
from mailtix.lifecycle.sla import due_times
from mailtix.store.models import Ticket
from mailtix.store.tickets import add_event

MAILTIX = "mailtix"  # the actor of what mailtix does by itself
EVENT_OF = {
    Field.STATUS: EventType.STATUS,
    Field.PRIORITY: EventType.PRIORITY,
    Field.DEPARTMENT: EventType.DEPARTMENT,
    Field.ASSIGNEE: EventType.ASSIGNED,
    Field.CUSTOMER: EventType.CUSTOMER,
}


def change(
    ticket: Ticket,
    field: Field,
    value: str,
    now: datetime,
    *,
    sla: SlaConfig,
    actor: str = MAILTIX,
    reason: str | None = None,
) -> bool:
    """Set ``field`` (status, priority, department, assignee or customer) to ``value``, keep
    what derives from it, and record the event; False when the field had that value."""
    old = getattr(ticket, field.value)
    if old == value:
        return False
    setattr(ticket, field.value, value)
    _set(ticket, "updated_at", now)
    if field == Field.STATUS:
        _status_stamps(ticket, value, now)
        if ticket.snoozed_until is not None and value != Status.PENDING:
            _end_snooze(ticket, now, actor, f"{old} -> {value}: {reason}")
    elif field == Field.PRIORITY:
        _due_times(ticket, sla)
    record(ticket, EVENT_OF[field], _detail(field, old, value, reason), now, actor=actor,
           field=field, old=old, new=value, reason=reason)  # fmt: skip
    return True


def add_tag(ticket: Ticket, tag: str, now: datetime, *, actor: str = MAILTIX) -> bool:
    """Add ``tag`` unless the ticket has it; False when it had."""
    if tag in ticket.tags:
        return False
    ticket.tags = [*ticket.tags, tag]
    _set(ticket, "updated_at", now)
    record(ticket, EventType.TAG, tag, now, actor=actor, field=Field.TAGS, new=tag)
    return True


def opened(
    ticket: Ticket, detail: str, now: datetime, *, sla: SlaConfig | None, actor: str = MAILTIX
) -> None:
    """A new ticket: its SLA due times (none for ``sla=None``: a held ticket has no SLA) and
    the ``created`` event."""
    if sla is not None:
        _due_times(ticket, sla)
    record(ticket, EventType.CREATED, detail, now, actor=actor)


def record(
    ticket: Ticket,
    type_: EventType,
    detail: str,
    now: datetime,
    *,
    actor: str = MAILTIX,
    field: str | None = None,
    old: str | None = None,
    new: str | None = None,
    reason: str | None = None,
) -> None:
    """Record an event on ``ticket`` (saving the row first if anything on it changed); the
    first ``replied`` stops the first-response clock."""
    if type_ == EventType.REPLIED and ticket.first_response_at is None:
        ticket.first_response_at = now
    if ticket.is_dirty():
        ticket.save()
    add_event(ticket, type_, detail, now, actor, field=field, old=old, new=new, reason=reason)


def snooze(ticket: Ticket, until: datetime, now: datetime, *, actor: str = MAILTIX) -> None:
    """Keep ``ticket`` pending until ``until`` (the caller set the status): the timed jobs
    open it again then; any other status change ends the snooze."""
    old = ticket.snoozed_until
    ticket.snoozed_until = until
    _set(ticket, "updated_at", now)
    text = until.isoformat(sep=" ", timespec="minutes")
    record(ticket, EventType.SNOOZED, f"snoozed until {text} UTC", now, actor=actor,
           field=Field.SNOOZED_UNTIL, old=old.isoformat() if old else None,
           new=until.isoformat())  # fmt: skip


def _end_snooze(ticket: Ticket, now: datetime, actor: str, why: str) -> None:
    old = ticket.snoozed_until
    ticket.snoozed_until = None
    record(ticket, EventType.SNOOZED, f"snooze ended ({why})", now, actor=actor,
           field=Field.SNOOZED_UNTIL, old=old.isoformat() if old else None,
           reason=why)  # fmt: skip


def touch(ticket: Ticket, now: datetime) -> None:
    """A desk has handled a mail on ``ticket``: it was updated at ``now``."""
    _set(ticket, "updated_at", now)
    if ticket.is_dirty():
        ticket.save()


def _set(ticket: Ticket, name: str, value: object) -> None:
    if getattr(ticket, name) != value:
        setattr(ticket, name, value)


def _status_stamps(ticket: Ticket, status: str, now: datetime) -> None:
    _set(ticket, "closed_at", now if status == Status.CLOSED else None)
    if status == Status.RESOLVED or (status == Status.CLOSED and ticket.resolved_at is None):
        _set(ticket, "resolved_at", now)
    elif status not in DONE_STATUSES:
        _set(ticket, "resolved_at", None)


def _due_times(ticket: Ticket, sla: SlaConfig) -> None:
    """Both due times count from the ticket's creation, for its current priority."""
    first, resolution = due_times(ticket.created_at, ticket.priority, sla)
    _set(ticket, "first_response_due", first)
    _set(ticket, "resolution_due", resolution)


def _detail(field: Field, old: str | None, new: str, reason: str | None) -> str:
    """The human text: "open -> resolved: why", "nobody -> bob@…", "bob@… (rule: …)"."""
    if field == Field.STATUS:
        return f"{old} -> {new}: {reason}"
    if field == Field.ASSIGNEE:
        return f"{new} ({reason})" if reason else f"{old or 'nobody'} -> {new}"
    return f"{old} -> {new}"
