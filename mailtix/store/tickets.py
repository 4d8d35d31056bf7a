"""Reads and writes of tickets, messages, participants and events (callers own the transaction)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from mailtix.domain.values import Attachment as AttachmentValue
from mailtix.domain.values import ParsedMail
from mailtix.domain.vocabulary import Direction, EventType, MessageKind, Status
from mailtix.store.lookups import (
    THREADABLE_SQL,
    copy_holder,
    execute,
    execute_many,
    is_participant,
    thread_owners,
)
from mailtix.store.models import Attachment, Event, Message, OutboxItem, Participant, Ticket
from mailtix.store.statements import (
    from_row,
    insert_objects,
    insert_row,
    model_columns,
    select_by_id,
)

MAX_THREAD_IDS = 100  # In-Reply-To + the newest References looked up; a real thread has fewer
#: How a note kept from unverified mail claiming an agent's address starts its thread_reason.
UNVERIFIED = "UNVERIFIED"


def verified_flag(kind: str, thread_reason: str) -> bool | None:
    """For ``tickets show``: False for a note kept from unverified mail claiming an agent's
    address, True for an agent's message or note, None for everyone else's mail."""
    if thread_reason.startswith(UNVERIFIED):
        return False
    return True if kind in (MessageKind.AGENT, MessageKind.NOTE) else None


class StoreLookup:
    """The store side of ``correlate.ThreadLookup``, for one mail: a ticket read with its
    participants is kept (``ticket``), so the pipeline does not read it again."""

    def __init__(self) -> None:
        self._tickets: dict[int, Ticket] = {}
        self._audiences: dict[int, tuple[str, ...]] = {}

    def ticket_for_message_ids(self, ids: Sequence[str]) -> tuple[int, str] | None:
        """Only ids the ticket's people could have seen thread (``lookups.thread_owners``).
        An id held by several tickets belongs to the first that had it: a later mail reusing
        it (a stranger who saw it) must not pull the real thread into his ticket."""
        if not ids:
            return None
        owner: dict[str, int] = {}
        for message_id, ticket_id in reversed(thread_owners(list(ids)[:MAX_THREAD_IDS])):
            owner.setdefault(message_id, ticket_id)  # rows come newest first
        for wanted in ids:
            if wanted in owner:
                return owner[wanted], wanted
        return None

    def ticket_participants(self, ticket_id: int) -> frozenset[str] | None:
        """Of a merged ticket: those of the ticket it was merged into (they moved there). One
        statement for a ticket not merged (every reply tagged with its reference), which reads
        the ticket too."""
        rows = execute(_ticket_participants_sql(), [ticket_id]).fetchall()
        if not rows:
            return None
        found = self._tickets[ticket_id] = from_row(Ticket, rows[0])
        if found.merged_into is None:
            copied = [str(email) for *_, email, role in rows if role == "cc"]
            self._audiences[ticket_id] = tuple(dict.fromkeys([found.customer, *copied]))
            return frozenset(str(row[-2]) for row in rows if row[-2] is not None)
        survivor = surviving(found)
        rows = execute("SELECT email FROM participant WHERE ticket_id = ?", [survivor.id])
        return frozenset(str(row[0]) for row in rows.fetchall())

    def ticket(self, ticket_id: int) -> Ticket | None:
        """Ticket ``ticket_id``: the one ``ticket_participants`` read, else from the store."""
        found = self._tickets.get(ticket_id)
        return found if found is not None else get_ticket(ticket_id)

    def audience(self, ticket_id: int) -> tuple[str, ...] | None:
        """Who an answer to ticket ``ticket_id`` goes to (``notify.answer_audience``: the
        customer, then the Cc'd participants) when ``ticket_participants`` read it, else None."""
        return self._audiences.get(ticket_id)


_PARTICIPANTS_SQL: list[str] = []


def _ticket_participants_sql() -> str:
    """The ticket's every column, then one participant's address and role per row, in the
    order they were added (none: NULL)."""
    if not _PARTICIPANTS_SQL:
        _PARTICIPANTS_SQL.append(
            f"SELECT {model_columns(Ticket, 't')}, p.email, p.role FROM ticket t "
            "LEFT JOIN participant p ON p.ticket_id = t.id WHERE t.id = ? ORDER BY p.id"
        )
    return _PARTICIPANTS_SQL[0]


def create_ticket(
    *,
    subject: str,
    customer: str,
    customer_name: str,
    mailbox: str,
    department: str,
    priority: str,
    tags: Sequence[str],
    now: datetime,
    organisation: str | None = None,
) -> Ticket:
    ticket = Ticket.create(
        subject=subject,
        customer=customer,
        customer_name=customer_name,
        mailbox=mailbox,
        department=department,
        priority=priority,
        tags=list(tags),
        status=Status.NEW,
        created_at=now,
        updated_at=now,
        organisation=organisation,
    )
    _participant(ticket.id, customer, customer_name, "customer", now)
    return ticket


def add_participant(ticket: Ticket, email: str, name: str, role: str, now: datetime) -> bool:
    """Add ``email`` to the ticket unless it is already there; True when added."""
    if is_participant(ticket.id, email):
        return False
    _participant(ticket.id, email, name, role, now)
    return True


def _participant(ticket_id: int, email: str, name: str, role: str, now: datetime) -> None:
    row = {"ticket": ticket_id, "email": email, "name": name, "role": role, "added_at": now}
    insert_row(Participant, row)  # a row, no model object: nobody uses one


def add_event(
    ticket: Ticket,
    type_: EventType,
    detail: str,
    now: datetime,
    actor: str = "mailtix",
    *,
    field: str | None = None,
    old: str | None = None,
    new: str | None = None,
    reason: str | None = None,
) -> None:
    """Record an event: ``detail`` the human text, the typed columns what changed (a change of
    the ticket itself goes through ``lifecycle.changes``, which calls this)."""
    row = {
        "ticket": ticket.id, "type": type_, "detail": detail[:2000], "actor": actor, "at": now,
        "field": field, "old_value": old, "new_value": new, "reason": reason,
    }  # fmt: skip
    insert_row(Event, row)  # a row, no model object: nobody uses one


def store_incoming(
    ticket: Ticket,
    mail: ParsedMail,
    raw: bytes,
    sha256: str,
    *,
    kind: str,
    automation: str,
    thread_reason: str,
    now: datetime,
    text: str | None = None,
) -> Message:
    """Keep an incoming mail on the ticket; ``text`` replaces the mail's text when given."""
    sender = mail.sender
    message = Message.create(
        ticket=ticket, direction=Direction.IN, kind=kind,
        from_addr=sender.email if sender else "", from_name=sender.name if sender else "",
        to_addrs=[a.email for a in mail.to], cc_addrs=[a.email for a in mail.cc],
        subject=mail.subject, text=mail.text if text is None else text, html=mail.html,
        message_id=mail.message_id, in_reply_to=" ".join(mail.in_reply_to),
        references=" ".join(mail.references), automation=automation,
        thread_reason=thread_reason, rfc822=raw, raw_sha256=sha256, created_at=now,
    )  # fmt: skip
    store_attachments(message, mail.attachments)
    return message


def store_attachments(message: Message, attachments: Sequence[AttachmentValue]) -> None:
    """Attachments under generated storage names; the sender's filename is metadata only."""
    for item in attachments:
        Attachment.create(
            message=message, storage_name=f"att-{secrets.token_hex(16)}",
            filename=item.filename, content_type=item.content_type, size=item.size,
            content=item.content,
        )  # fmt: skip


def store_outgoing(
    ticket: Ticket,
    *,
    kind: str,
    sender: str,
    sender_name: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str,
    message_id: str,
    in_reply_to: str,
    references: Sequence[str],
    now: datetime,
) -> Message:
    return Message.create(
        ticket=ticket,
        direction=Direction.OUT,
        kind=kind,
        from_addr=sender,
        from_name=sender_name,
        to_addrs=list(to),
        subject=subject,
        text=text,
        html=html,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=" ".join(references),
        created_at=now,
    )


_FILL_RECORD = "UPDATE message SET subject = ?, text = ?, html = ? WHERE id = ? AND message_id = ?"


def store_letters(
    outbox: Sequence[OutboxItem], records: Sequence[tuple[str, str, str, int, str]]
) -> int:
    """Store the letters made ahead: ``outbox``, their rows not saved yet, with their bytes,
    in one statement run for each; ``records`` (subject, text, HTML, message id,
    Message-ID), each into its record found by id and Message-ID. Returns how many rows took
    theirs: the outbox rows inserted and the records filled, as the driver counted them."""
    filled = execute_many(_FILL_RECORD, records) if records else 0
    return insert_objects(outbox) + filled


_THREAD_IDS = (
    "SELECT message_id FROM message WHERE ticket_id = ? AND message_id IS NOT NULL "
    f"AND kind IN ({THREADABLE_SQL}) ORDER BY id"
)


def visible_thread_ids(ticket: Ticket) -> list[str]:
    """Message-IDs the customer has seen (no internal notes), oldest first: the References of
    every mail about the ticket. Plain SQL (``lookups.execute``): peewee took 0.3 ms to compose
    it, 15 times what the query needs, and it runs for every notification."""
    return [str(row[0]) for row in execute(_THREAD_IDS, [ticket.id]).fetchall()]


MAX_COPY_CANDIDATES = 20  # earlier messages with one Message-ID, sender and subject compared


def earlier_copy(mail: ParsedMail) -> Ticket | None:
    """The ticket that already holds this very message (same Message-ID, sender and subject,
    and the same text, HTML and attachment sizes), e.g. when one mail was sent to two support
    addresses or resent with other trace headers. Never the Message-ID alone: a careless
    script's fixed one, or a stranger's copy of one, must not make a different mail vanish as
    a copy. An agent's answer is kept with its quotes cut, so its text is not compared."""
    if mail.message_id is None or mail.sender is None:
        return None
    if copy_holder(mail.message_id, mail.sender.email, mail.subject) is None:
        return None  # the usual case: one indexed query, nothing more
    rows = (
        Message.select(Message.id, Message.ticket, Message.kind, Message.text, Message.html)
        .where(Message.message_id == mail.message_id, Message.direction == Direction.IN,
               Message.from_addr == mail.sender.email, Message.subject == mail.subject)
        .order_by(Message.id).limit(MAX_COPY_CANDIDATES)
    )  # fmt: skip
    sizes = sorted(item.size for item in mail.attachments)
    for row in rows:
        cut = row.kind in (MessageKind.AGENT, MessageKind.NOTE)
        if not cut and (row.text != mail.text or (row.html or None) != (mail.html or None)):
            continue
        kept = Attachment.select(Attachment.size).where(Attachment.message == row.id)
        if cut or sorted(item.size for item in kept) == sizes:
            return get_ticket(row.ticket_id)
    return None


def get_ticket(ticket_id: int) -> Ticket | None:
    return select_by_id(Ticket, ticket_id)


MAX_MERGE_HOPS = 20  # A merged into B merged into C …: followed this far, never in a circle


def surviving(ticket: Ticket) -> Ticket:
    """The ticket ``ticket`` was merged into (following merges), else ``ticket`` itself: mail
    to a merged ticket's reference, tag or thread lands there."""
    seen = {ticket.id}
    for _ in range(MAX_MERGE_HOPS):
        if ticket.merged_into is None:
            return ticket
        target = get_ticket(ticket.merged_into)
        if target is None or target.id in seen:
            return ticket
        seen.add(target.id)
        ticket = target
    return ticket
