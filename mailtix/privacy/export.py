"""Everything the store holds about one person, as a zip (``mailtix privacy export``): one JSON
document and their raw mail as .eml files.

What is in it: their customer record; every ticket where they are the customer or a
participant (reference, subject, status, times, their role); on those tickets the messages
they wrote or were sent (To/Cc), with attachments' names and sizes; the status history of their
own tickets; the mail mailtix sent them (the outbox copy, as they received it), their mail held
in quarantine, and a suppression of their address. What is not: internal notes and agents' own
mails to the desk (never sent to them), other people's mail they were not sent, who the agents
are (no assignee, no event actor). It names nobody they have not already had mail from.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mailtix.decisions.correlate import format_ref
from mailtix.domain.clock import iso
from mailtix.domain.vocabulary import EventType, MessageKind
from mailtix.privacy.matching import Spellings
from mailtix.privacy.queries import blob_mentions, equals, mentions
from mailtix.store.models import (
    Attachment,
    Customer,
    Event,
    Message,
    OutboxItem,
    Participant,
    QuarantineItem,
    Suppression,
    Ticket,
)

SHOWN_EVENTS = (
    EventType.CREATED, EventType.STATUS, EventType.REOPENED, EventType.LINKED, EventType.MERGED,
    EventType.SATISFACTION, EventType.ERASED, EventType.ANONYMISED,
)  # fmt: skip
HIDDEN_KINDS = (MessageKind.NOTE,)


@dataclass
class Export:
    document: dict[str, Any]
    files: list[tuple[str, bytes]] = field(default_factory=list)  # name in the zip, bytes


def gather(address: str, prefix: str, now: datetime) -> Export:
    who = Spellings.of(address)
    export = Export({"address": address.strip(), "generated_at": iso(now)})
    customer = Customer.get_or_none(Customer.key.in_(list(who.forms)))
    export.document["customer"] = None if customer is None else _customer(customer)
    own = list(Ticket.select().where(equals(Ticket.customer, who)).order_by(Ticket.id))
    took_part = Participant.select(Participant.ticket).where(equals(Participant.email, who))
    wrote = Message.select(Message.ticket).where(equals(Message.from_addr, who))
    shared = Ticket.id.in_(took_part) | Ticket.id.in_(wrote)
    others = Ticket.select().where(shared & Ticket.id.not_in([t.id for t in own] or [0]))
    others = others.order_by(Ticket.id)
    tickets = [(t, "customer") for t in own] + [(t, "participant") for t in others]
    export.document["tickets"] = [_ticket(t, role, who, prefix, export) for t, role in tickets]
    export.document["received"] = list(_sent_to(who, export))
    export.document["quarantined"] = list(_quarantined(who, export))
    suppression = Suppression.get_or_none(equals(Suppression.address, who))
    export.document["suppression"] = None if suppression is None else {
        "reason": suppression.reason, "since": iso(suppression.created_at),
    }  # fmt: skip
    return export


def _customer(c: Customer) -> dict[str, Any]:
    return {
        "email": c.email, "name": c.name, "language": c.language, "tags": list(c.tags),
        "organisation": c.organisation, "first_seen": iso(c.first_seen),
        "last_seen": iso(c.last_seen),
    }  # fmt: skip


def _theirs(m: Message, who: Spellings) -> bool:
    """Mail they wrote or were sent; never an internal note."""
    if m.kind in HIDDEN_KINDS:
        return False
    return who.equal(m.from_addr) or any(who.equal(a) for a in [*m.to_addrs, *m.cc_addrs])


def _ticket(t: Ticket, role: str, who: Spellings, prefix: str, export: Export) -> dict[str, Any]:
    ref = format_ref(prefix, t.id)
    messages = []
    for m in Message.select().where(Message.ticket == t).order_by(Message.created_at, Message.id):
        if not _theirs(m, who):
            continue
        messages.append(_message(m))
        if m.rfc822:
            export.files.append((f"messages/{ref}-{m.id}.eml", bytes(m.rfc822)))
    found: dict[str, Any] = {
        "ref": ref, "role": role, "subject": t.subject, "status": t.status,
        "created_at": iso(t.created_at), "updated_at": iso(t.updated_at),
        "closed_at": iso(t.closed_at), "messages": messages,
    }  # fmt: skip
    if role == "customer":
        found["satisfaction"] = t.satisfaction
        found["satisfaction_comment"] = t.satisfaction_comment
        events = Event.select().where((Event.ticket == t) & Event.type.in_(SHOWN_EVENTS))
        found["events"] = [
            {"type": e.type, "field": e.field, "old": e.old_value, "new": e.new_value,
             "at": iso(e.at)}
            for e in events.order_by(Event.at, Event.id)
        ]  # fmt: skip
    return found


def _message(m: Message) -> dict[str, Any]:
    return {
        "direction": m.direction, "from": m.from_addr, "from_name": m.from_name,
        "to": list(m.to_addrs), "cc": list(m.cc_addrs), "subject": m.subject, "text": m.text,
        "message_id": m.message_id, "created_at": iso(m.created_at),
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in Attachment.select().where(Attachment.message == m).order_by(Attachment.id)
        ],
    }  # fmt: skip


def _sent_to(who: Spellings, export: Export) -> Iterator[dict[str, Any]]:
    """The outbox copies of mail sent (or still to be sent) to them."""
    query = OutboxItem.select().where(
        equals(OutboxItem.recipient_key, who) | mentions([OutboxItem.recipients], who)
    )
    for item in query.order_by(OutboxItem.id):
        if not any(who.equal(a) for a in item.recipients):
            continue
        export.files.append((f"received/{item.id}.eml", bytes(item.rfc822)))
        yield {"kind": item.kind, "status": item.status, "created_at": iso(item.created_at),
               "sent_at": iso(item.sent_at), "file": f"received/{item.id}.eml"}  # fmt: skip


def _quarantined(who: Spellings, export: Export) -> Iterator[dict[str, Any]]:
    """Their mail in quarantine (held, released, or spam and ignored mail kept): the ones whose
    header names them."""
    query = QuarantineItem.select().where(blob_mentions(QuarantineItem.rfc822, who))
    for item in query.order_by(QuarantineItem.id):
        header = bytes(item.rfc822 or b"").split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
        if not who.mentioned_in_bytes(header):
            continue
        export.files.append((f"quarantine/{item.id}.eml", bytes(item.rfc822 or b"")))
        yield {"reason": item.reason, "status": item.status, "received_at": iso(item.created_at),
               "file": f"quarantine/{item.id}.eml"}  # fmt: skip


def write_zip(export: Export, path: Path) -> int:
    """The zip at the new file ``path``, 0600 whatever the umask; its size. An existing file
    (the store, a backup, last week's export) is never replaced: FileExistsError."""
    if os.path.lexists(path):
        raise FileExistsError(path)
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("person.json", json.dumps(export.document, indent=2, ensure_ascii=False))
            for name, data in export.files:
                zf.writestr(name, data)
        os.link(partial, path)  # fails if ``path`` appeared meanwhile; replace would not
        partial.unlink()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path.stat().st_size
