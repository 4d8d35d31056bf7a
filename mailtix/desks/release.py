"""``mailtix quarantine retry``: one quarantine row through the pipeline again, in one
transaction with what it changes on the row (and on the ticket it makes).

A held mail (it could not be processed) runs again from scratch. A kept mail (spam or ignored,
kept because no folder holds it) is an admin's decision that it is a customer's mail: it runs
with the spam flag, the spam and ignore rules and ``automated_mail = ignore`` overruled, and the
ticket it opens or joins records that decision as an event. Everything else stays: automated
mail gets no acknowledgement, a bounce is handled as a bounce, mailtix's own mail and an
unverified agent's are still refused; such a mail stays kept.
"""

from __future__ import annotations

from mailtix.decisions.correlate import parse_ref
from mailtix.desks.outcome import Outcome, Source
from mailtix.desks.pipeline import Pipeline
from mailtix.desks.quarantine import NO_OVERRULE, Overrule
from mailtix.domain.vocabulary import EventType, QuarantineStatus
from mailtix.store.durability import durable_point, relaxed_transaction
from mailtix.store.models import QuarantineItem, Ticket
from mailtix.store.tickets import add_event

ADMIN_RELEASE = Overrule(not_spam=True, not_ignored=True)


def retry(pipeline: Pipeline, item: QuarantineItem) -> Outcome:
    """Run ``item`` (its bytes were kept) again; it is released when it was handled: a held one
    unless it is quarantined again or failed (deferred), a kept one once it is in a ticket."""
    kept = item.status == QuarantineStatus.KEPT
    source = Source(item.mailbox, overrule=ADMIN_RELEASE if kept else NO_OVERRULE)
    with relaxed_transaction():  # the pipeline's own commits become savepoints of this one
        outcome = pipeline.process(bytes(item.rfc822 or b""), source, retry=True)
        ticket_id = parse_ref(pipeline.config.tickets.prefix, outcome.ticket_ref or "")
        if kept and ticket_id is not None:
            ticket = Ticket.get_by_id(ticket_id)
            detail = f"kept mail {item.id} released by an admin (it was {item.reason})"
            add_event(ticket, EventType.RELEASED, detail, pipeline.clock(), "admin",
                      reason=item.reason)  # fmt: skip
        handled = outcome.kind not in ("quarantined", "deferred")
        if (ticket_id is not None) if kept else handled:
            item.status = QuarantineStatus.RELEASED
            item.save()
    durable_point(item.mailbox)
    return outcome
