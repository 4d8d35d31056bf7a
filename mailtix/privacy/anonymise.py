"""Anonymise one closed ticket (retention, ``[privacy] erase_closed_days``): every address on
it that is not the desk's own (mailboxes, agents) becomes its stable pseudonym, names go, and
the text goes with them: subjects, message text and HTML, raw bytes, attachments, the outbox
copies. A signature, a phone number or a street in a mail names a person as well as an address
does, so only the shape of the ticket stays: status, priority, department, assignee, times,
the kinds and directions of its messages and its events (with addresses replaced), which is
what the report counts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from mailtix.domain.addresses import address_key
from mailtix.domain.vocabulary import EventType
from mailtix.privacy.matching import Spellings
from mailtix.privacy.pseudonyms import stable_pseudonym
from mailtix.store.models import (
    Attachment,
    Event,
    Message,
    OutboxItem,
    Participant,
    Receipt,
    Ticket,
)
from mailtix.store.tickets import add_event

ANONYMISED_SUBJECT = "(anonymised)"
EVENT_TEXT = ("detail", "actor", "old_value", "new_value", "reason")


def _people(ticket: Ticket, keep: Collection[str]) -> dict[str, str]:
    """Every address on the ticket that is not in ``keep``, with its pseudonym."""
    found = [ticket.customer]
    found += [p.email for p in Participant.select().where(Participant.ticket == ticket)]
    for m in Message.select().where(Message.ticket == ticket):
        found += [m.from_addr, *m.to_addrs, *m.cc_addrs]
    keys = {address_key(a) for a in found if a and "@" in a} - set(keep)
    return {key: stable_pseudonym(key) for key in sorted(keys)}


def anonymise_ticket(ticket: Ticket, keep: Collection[str], now: datetime) -> int:
    """Anonymise ``ticket`` (in the caller's transaction); the number of people on it."""
    people = _people(ticket, keep)

    def rename(address: str) -> str:
        return people.get(address_key(address), address) if address else address

    def scrub(text: str | None) -> str | None:
        for address, pseudonym in people.items():
            text = Spellings.of(address).replace(text or "", pseudonym) if text else text
        return text

    Ticket.update(subject=ANONYMISED_SUBJECT, customer=rename(ticket.customer), customer_name="",
                  satisfaction_comment=None).where(Ticket.id == ticket.id).execute()  # fmt: skip
    for p in Participant.select().where(Participant.ticket == ticket):
        if address_key(p.email) in people:
            Participant.update(email=rename(p.email), name="").where(
                Participant.id == p.id
            ).execute()
    _messages(ticket, rename, scrub)
    for event in Event.select().where(Event.ticket == ticket):
        values = {n: scrub(getattr(event, n)) for n in EVENT_TEXT if getattr(event, n)}
        changed = {n: v for n, v in values.items() if v != getattr(event, n)}
        if changed:  # most events name no one: no statement for them
            Event.update(**changed).where(Event.id == event.id).execute()
    OutboxItem.delete().where(OutboxItem.ticket == ticket).execute()
    for receipt in Receipt.select().where(Receipt.ticket == ticket):
        if scrub(receipt.detail) != receipt.detail:
            Receipt.update(detail=scrub(receipt.detail)).where(Receipt.id == receipt.id).execute()
    add_event(ticket, EventType.ANONYMISED, "closed long enough: addresses and text removed", now)
    return len(people)


def _messages(
    ticket: Ticket, rename: Callable[[str], str], scrub: Callable[[str | None], str | None]
) -> None:
    ids = [m.id for m in Message.select(Message.id).where(Message.ticket == ticket)]
    Attachment.delete().where(Attachment.message.in_(ids or [0])).execute()
    for m in Message.select().where(Message.ticket == ticket):
        renamed = rename(m.from_addr)
        Message.update(
            subject=ANONYMISED_SUBJECT, text="", html=None, rfc822=None, from_addr=renamed,
            from_name="" if renamed != m.from_addr else m.from_name,
            to_addrs=[rename(a) for a in m.to_addrs], cc_addrs=[rename(a) for a in m.cc_addrs],
            message_id=scrub(m.message_id), in_reply_to=scrub(m.in_reply_to) or "",
            references=scrub(m.references) or "", thread_reason=scrub(m.thread_reason) or "",
        ).where(Message.id == m.id).execute()  # fmt: skip
