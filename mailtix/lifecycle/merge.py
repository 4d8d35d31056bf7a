"""Merging a duplicate ticket into another (``#merge SUP-N``, ``mailtix tickets merge A INTO``).

Everything of the duplicate moves to the survivor: its messages (with their attachments and
Message-IDs, so replies in its thread land in the survivor), its events, its outbox rows (the
notifications whose tokens its agents answer), its participants (its customer becomes a Cc'd
participant when the survivor has another) and its tags. The duplicate keeps only where it went:
``merged_into``, status closed and a ``merged`` event; mail to its reference or tag follows
``merged_into`` (``store.tickets.surviving``); reports and SLA leave merged tickets out. Nobody
is mailed. A merge into a closed ticket is refused (reopen it first): merging must not revive
a finished ticket behind its customer's back.
"""

from __future__ import annotations

from datetime import datetime

from mailtix.config.lifecycle import SlaConfig
from mailtix.decisions.correlate import format_ref
from mailtix.domain.vocabulary import EventType, Field, Status
from mailtix.lifecycle.changes import MAILTIX, add_tag, change, record
from mailtix.store.models import Event, Message, OutboxItem, Participant, Ticket
from mailtix.store.tickets import add_participant


def merge_problem(source: Ticket, target: Ticket | None, target_ref: str, prefix: str) -> str:
    """Why ``source`` cannot be merged into ``target`` ("" when it can)."""
    ref = format_ref(prefix, source.id)
    if target is None:
        return f"no ticket {target_ref}"
    if target.id == source.id:
        return f"cannot merge {ref} into itself"
    if source.merged_into is not None:
        return f"{ref} was already merged into {format_ref(prefix, source.merged_into)}"
    if target.merged_into is not None:
        where = format_ref(prefix, target.merged_into)
        return f"{target_ref} was merged into {where}; merge into {where} instead"
    if target.status == Status.CLOSED:
        return (
            f"{target_ref} is closed; reopen it first (#status open in a reply about it), "
            f"or merge it into {ref}"
        )
    return ""


def merge(
    source: Ticket, target: Ticket, now: datetime, *, prefix: str, sla: SlaConfig,
    actor: str = MAILTIX,
) -> str:  # fmt: skip
    """Move everything of ``source`` into ``target`` and close ``source``; what was done.
    The caller checked ``merge_problem`` and owns the transaction."""
    source_ref, target_ref = format_ref(prefix, source.id), format_ref(prefix, target.id)
    moved = Message.update(ticket=target.id).where(Message.ticket == source.id).execute()
    Event.update(ticket=target.id).where(Event.ticket == source.id).execute()
    OutboxItem.update(ticket=target.id).where(OutboxItem.ticket == source.id).execute()
    people = _move_participants(source, target, now)
    for tag in source.tags:
        add_tag(target, tag, now, actor=actor)
    source.merged_into = target.id
    source.first_response_due = source.resolution_due = None
    change(source, Field.STATUS, Status.CLOSED, now, sla=sla, actor=actor,
           reason=f"merged into {target_ref}")  # fmt: skip
    record(source, EventType.MERGED, f"merged into {target_ref} by {actor}", now, actor=actor,
           field=Field.MERGED_INTO, new=str(target.id))  # fmt: skip
    detail = f"{source_ref} merged into this ticket: {moved} message(s), {people} participant(s)"
    record(target, EventType.MERGED, detail, now, actor=actor, field=Field.MERGED_INTO,
           old=str(source.id), new=str(target.id))  # fmt: skip
    return f"{source_ref} merged into {target_ref} ({moved} message(s) moved)"


def _move_participants(source: Ticket, target: Ticket, now: datetime) -> int:
    """Source's people join the target (its customer as a Cc'd participant); returns how many
    were new there."""
    added = 0
    rows = Participant.select().where(Participant.ticket == source.id).order_by(Participant.id)
    for person in rows:
        role = "cc" if person.role == "customer" else person.role
        if person.email != target.customer and add_participant(
            target, person.email, person.name, role, now
        ):
            added += 1
    Participant.delete().where(Participant.ticket == source.id).execute()
    return added
