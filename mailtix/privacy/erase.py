"""Erase one person from the store (``mailtix privacy erase ADDRESS``): a list of steps, one
per kind of row, each finding the rows that name the person and changing them.

Their own tickets (where they are the customer) stay as empty shells for the figures: no
subject, no messages, a random ``erased-…@erased.invalid`` as customer, closed. Their messages
anywhere are deleted; other people's messages, events and tickets that mention the address keep
their text with the address replaced (raw bytes that contain it are dropped). Outbox rows,
quarantined mail, receipts, attempts, suppressions and the customer record that name them are
deleted. Each step finds its rows with reads and then writes them in one short transaction,
so a running daemon is held up for moments only; a run finds nothing a second time.

A table that holds addresses or text gets its step in ``STEPS`` (and nowhere else).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailtix.domain.vocabulary import EventType, Status
from mailtix.privacy.matching import Spellings
from mailtix.privacy.pseudonyms import erased_pseudonym, known_pseudonym
from mailtix.privacy.queries import blob_mentions, chunks, equals, mentions
from mailtix.store.models import (
    Attachment,
    Customer,
    Event,
    FolderMove,
    Heartbeat,
    IngestAttempt,
    MailboxHealth,
    MailboxState,
    Message,
    OutboxItem,
    Participant,
    PrivacyEvent,
    QuarantineItem,
    Receipt,
    SendPace,
    Setting,
    Suppression,
    Ticket,
    database_proxy,
)
from mailtix.store.search_index import forget_deleted
from mailtix.store.tickets import add_event

log = logging.getLogger(__name__)

ERASED_SUBJECT = "(erased on request)"


@dataclass
class Person:
    """What the steps need to know, found before any of them changes anything."""

    who: Spellings
    pseudonym: str
    own_tickets: list[int] = field(default_factory=list)  # they are the customer
    shared_tickets: list[int] = field(default_factory=list)  # others' they took part in
    messages: list[int] = field(default_factory=list)  # deleted: on their tickets or theirs
    hashes: set[str] = field(default_factory=set)  # raw SHA-256 of their mail (ledger)
    message_ids: set[str] = field(default_factory=set)  # their mail's Message-IDs (IMAP)


def find_person(address: str) -> Person:
    who = Spellings.of(address)
    earlier = known_pseudonym(address)  # their tickets anonymised by retention
    who = Spellings((*who.forms, earlier)) if earlier else who
    person = Person(who, erased_pseudonym())
    person.own_tickets = [
        t.id for t in Ticket.select(Ticket.id).where(equals(Ticket.customer, who))
    ]
    query = Message.select(Message.id, Message.raw_sha256, Message.message_id).where(
        Message.ticket.in_(person.own_tickets) | equals(Message.from_addr, who)
    )
    for row in query:
        person.messages.append(row.id)
        person.hashes.update([row.raw_sha256] if row.raw_sha256 else [])
        person.message_ids.update([row.message_id] if row.message_id else [])
    took_part = Participant.select(Participant.ticket).where(equals(Participant.email, who))
    wrote = Message.select(Message.ticket).where(equals(Message.from_addr, who))
    shared = Ticket.select(Ticket.id).where(Ticket.id.in_(took_part) | Ticket.id.in_(wrote))
    person.shared_tickets = sorted(set(_ids(shared)) - set(person.own_tickets))
    person.hashes.update(
        q.sha256 for q in QuarantineItem.select().iterator() if who.mentioned_in_mail(q.rfc822)
    )
    return person


@dataclass(frozen=True)
class Step:
    """One kind of row of ``model``: ``find`` lists the rows (ids) to change, ``change``
    changes them."""

    kind: str
    model: type
    find: Callable[[Person], list[int]]
    change: Callable[[Person, list[int], datetime], None]


def _ids(query: Any) -> list[int]:
    return [row.id for row in query]


def _confirmed(query: Any, check: Callable[[Any], bool]) -> list[int]:
    return [row.id for row in query if check(row)]


def _rows(model: Any, ids: list[int]) -> Iterator[Any]:
    for chunk in chunks(ids):
        yield from model.select().where(model.id.in_(chunk))


def _delete(model: Any) -> Callable[[Person, list[int], datetime], None]:
    def change(person: Person, ids: list[int], now: datetime) -> None:
        for chunk in chunks(ids):
            model.delete().where(model.id.in_(chunk)).execute()

    return change


# --- customer record, participants ------------------------------------------------------


def _find_customers(p: Person) -> list[int]:
    return _ids(Customer.select(Customer.id).where(Customer.key.in_(list(p.who.forms))))


def _find_participants(p: Person) -> list[int]:
    return _ids(Participant.select(Participant.id).where(equals(Participant.email, p.who)))


# --- attachments and messages -----------------------------------------------------------


def _find_attachments(p: Person) -> list[int]:
    found = []
    for chunk in chunks(p.messages):
        found += _ids(Attachment.select(Attachment.id).where(Attachment.message.in_(chunk)))
    others = Attachment.select(Attachment.id, Attachment.content, Attachment.filename).where(
        blob_mentions(Attachment.content, p.who) | mentions([Attachment.filename], p.who)
    )
    mine = set(found)
    return found + [
        a.id for a in others if a.id not in mine
        and (p.who.mentioned_in_bytes(a.content) or p.who.mentioned(a.filename))
    ]  # fmt: skip


def _change_attachments(p: Person, ids: list[int], now: datetime) -> None:
    theirs = set(p.messages)
    for chunk in chunks(ids):
        rows = list(Attachment.select().where(Attachment.id.in_(chunk)))
        gone = [row.id for row in rows if row.message_id in theirs]
        Attachment.delete().where(Attachment.id.in_(gone or [0])).execute()
        for row in (r for r in rows if r.message_id not in theirs):  # others' mail
            Attachment.update(content=b"", filename=p.who.replace(row.filename, p.pseudonym)).where(
                Attachment.id == row.id
            ).execute()


MESSAGE_TEXT = ("from_name", "subject", "text", "html", "message_id", "in_reply_to",
                "references", "thread_reason")  # fmt: skip


def _message_names(p: Person, m: Message) -> bool:
    texts = [getattr(m, name) for name in MESSAGE_TEXT]
    return (
        any(p.who.mentioned(t) for t in texts)
        or any(p.who.equal(a) for a in [*m.to_addrs, *m.cc_addrs])
        or p.who.mentioned_in_bytes(m.rfc822)
    )


def _find_mentioning_messages(p: Person) -> list[int]:
    columns = [getattr(Message, name) for name in MESSAGE_TEXT]
    query = Message.select().where(
        mentions([*columns, Message.to_addrs, Message.cc_addrs], p.who)
        | blob_mentions(Message.rfc822, p.who)
    )
    theirs = set(p.messages)
    return [m.id for m in query if m.id not in theirs and _message_names(p, m)]


def _scrub_messages(p: Person, ids: list[int], now: datetime) -> None:
    for message in _rows(Message, ids):
        values: dict[str, Any] = {
            name: p.who.replace(getattr(message, name), p.pseudonym)
            for name in MESSAGE_TEXT
            if getattr(message, name)
        }
        values["to_addrs"] = p.who.without(message.to_addrs)
        values["cc_addrs"] = p.who.without(message.cc_addrs)
        values["rfc822"] = None  # the raw mail names them in a header or its text
        Message.update(**values).where(Message.id == message.id).execute()


# --- events, tickets ---------------------------------------------------------------------

EVENT_TEXT = ("detail", "actor", "old_value", "new_value", "reason")


def _find_events(p: Person) -> list[int]:
    query = Event.select().where(mentions([getattr(Event, n) for n in EVENT_TEXT], p.who))
    return _confirmed(query, lambda e: any(p.who.mentioned(getattr(e, n)) for n in EVENT_TEXT))


def _scrub_events(p: Person, ids: list[int], now: datetime) -> None:
    for event in _rows(Event, ids):
        values = {n: p.who.replace(getattr(event, n), p.pseudonym)
                  for n in EVENT_TEXT if getattr(event, n)}  # fmt: skip
        Event.update(**values).where(Event.id == event.id).execute()


TICKET_TEXT = ("subject", "customer_name", "satisfaction_comment")


def _find_tickets(p: Person) -> list[int]:
    query = Ticket.select().where(mentions([getattr(Ticket, n) for n in TICKET_TEXT], p.who))
    named = _confirmed(query, lambda t: any(p.who.mentioned(getattr(t, n)) for n in TICKET_TEXT))
    return sorted(set(p.own_tickets) | set(named))


def _change_tickets(p: Person, ids: list[int], now: datetime) -> None:
    own = set(p.own_tickets)
    for ticket in _rows(Ticket, ids):
        if ticket.id in own:
            closed = ticket.status == Status.CLOSED
            Ticket.update(
                subject=ERASED_SUBJECT, customer=p.pseudonym, customer_name="",
                satisfaction_comment=None, status=Status.CLOSED, snoozed_until=None,
                closed_at=ticket.closed_at if closed else now, updated_at=now,
            ).where(Ticket.id == ticket.id).execute()  # fmt: skip
            add_event(ticket, EventType.ERASED, "the customer's data was erased on request", now)
            continue
        values = {n: p.who.replace(getattr(ticket, n), p.pseudonym)
                  for n in TICKET_TEXT if getattr(ticket, n)}  # fmt: skip
        Ticket.update(**values).where(Ticket.id == ticket.id).execute()


# --- outbox, quarantine, ledger, attempts, suppressions ----------------------------------


def _find_outbox(p: Person) -> list[int]:
    own = set(p.own_tickets)
    query = OutboxItem.select().where(
        OutboxItem.ticket.in_(p.own_tickets or [0])
        | equals(OutboxItem.recipient_key, p.who)
        | mentions([OutboxItem.recipients, OutboxItem.last_error], p.who)
        | blob_mentions(OutboxItem.rfc822, p.who)
    )
    found = _confirmed(query, lambda o: o.ticket_id in own or p.who.mentioned(o.last_error)
                       or any(p.who.equal(a) for a in o.recipients)
                       or p.who.mentioned_in_bytes(o.rfc822))  # fmt: skip
    # mail about tickets they took part in may name them where only decoding shows it
    others = OutboxItem.select().where(
        OutboxItem.ticket.in_(p.shared_tickets or [0]) & OutboxItem.id.not_in(found or [0])
    )
    return found + _confirmed(others, lambda o: p.who.mentioned_in_mail(o.rfc822))


def _find_quarantine(p: Person) -> list[int]:
    """Every held mail is decoded: the table is small, and its mail is the broken kind."""
    return _confirmed(
        QuarantineItem.select().iterator(),
        lambda q: p.who.mentioned_in_mail(q.rfc822) or p.who.mentioned(q.reason),
    )


def _find_receipts(p: Person) -> list[int]:
    own = set(p.own_tickets)
    query = Receipt.select().where(
        Receipt.ticket.in_(p.own_tickets or [0])
        | Receipt.sha256.in_(sorted(p.hashes) or [""])
        | mentions([Receipt.detail], p.who)
    )
    return _confirmed(query, lambda r: r.ticket_id in own or r.sha256 in p.hashes
                      or p.who.mentioned(r.detail))  # fmt: skip


def _find_attempts(p: Person) -> list[int]:
    query = IngestAttempt.select().where(
        IngestAttempt.sha256.in_(sorted(p.hashes) or [""])
        | mentions([IngestAttempt.last_error], p.who)
    )
    return _confirmed(query, lambda a: a.sha256 in p.hashes or p.who.mentioned(a.last_error))


def _find_suppressions(p: Person) -> list[int]:
    query = Suppression.select().where(
        equals(Suppression.address, p.who) | mentions([Suppression.reason], p.who)
    )
    return _confirmed(query, lambda s: p.who.equal(s.address) or p.who.mentioned(s.reason))


def _find_folder_moves(p: Person) -> list[int]:
    """Moves #spam asked for: their Message-IDs may carry their address."""
    query = FolderMove.select(FolderMove.id).where(
        FolderMove.ticket.in_(p.own_tickets or [0])
        | FolderMove.message_id.in_(sorted(p.message_ids) or [""])
    )
    return _ids(query)


STEPS: tuple[Step, ...] = (
    Step("customer records", Customer, _find_customers, _delete(Customer)),
    Step("participants", Participant, _find_participants, _delete(Participant)),
    Step("attachments", Attachment, _find_attachments, _change_attachments),
    Step("messages", Message, lambda p: list(p.messages), _delete(Message)),
    Step("messages naming them", Message, _find_mentioning_messages, _scrub_messages),
    Step("events", Event, _find_events, _scrub_events),
    Step("tickets", Ticket, _find_tickets, _change_tickets),
    Step("outbox", OutboxItem, _find_outbox, _delete(OutboxItem)),
    Step("quarantine", QuarantineItem, _find_quarantine, _delete(QuarantineItem)),
    Step("receipts", Receipt, _find_receipts, _delete(Receipt)),
    Step("ingest attempts", IngestAttempt, _find_attempts, _delete(IngestAttempt)),
    Step("suppressions", Suppression, _find_suppressions, _delete(Suppression)),
    Step("mail moves", FolderMove, _find_folder_moves, _delete(FolderMove)),
)
# Tables that hold no address or text of a person (what erase leaves alone, and why).
NOT_PERSONAL: dict[type, str] = {
    MailboxState: "a mailbox's UIDVALIDITY and last UID",
    Setting: "generated keys and times",
    SendPace: "sends per SMTP account",
    MailboxHealth: "poll results of the desk's own mailboxes",
    Heartbeat: "daemons",
    PrivacyEvent: "counts of erases and retention runs, never an address",
}


def erase(person: Person, now: datetime, *, dry_run: bool = False) -> list[tuple[str, int]]:
    """Every step for ``person``: (kind, rows changed or, with ``dry_run``, to change)."""
    counts = []
    for step in STEPS:
        ids = step.find(person)
        if ids and not dry_run:
            with database_proxy.atomic():
                step.change(person, ids, now)
        counts.append((step.kind, len(ids)))
    if not dry_run and any(n for _, n in counts):
        forget_deleted(database_proxy.obj)  # no erased word left in the full-text index
    return counts


def record_erase(counts: list[tuple[str, int]], now: datetime, actor: str) -> int:
    """The erase as a ``privacy_event`` (its id): counts only, never the address."""
    detail = ", ".join(f"{kind} {n}" for kind, n in counts)
    event = PrivacyEvent.create(type="erase", at=now, actor=actor, detail=detail)
    log.info("erase: %s", detail)
    return int(event.id)
