"""An agent's ``#spam`` and ``#notspam`` on a ticket.

``#spam``: the ticket is marked spam (out of the reports, ``report.figures.SURVIVING``) and
closed without a status mail, and its customer gets no automatic mail for
``tickets.suppression_days`` (a suppression with reason "spam", as a permanent bounce makes;
``mailtix outbox unsuppress`` clears it too). ``#notspam`` undoes all three: the ticket counts
again, is open, and the suppression goes (only one ``#spam`` made). Each also has the ticket's
customer mail moved by the next poll of its mailbox (``store.folder_moves``): into the
mailbox's spam_folder, and back to processed_folder (a mailbox only LMTP delivers has no
folders).
"""

from __future__ import annotations

from datetime import datetime

from mailtix.config.model import Config
from mailtix.domain.vocabulary import EventType, Field, Status
from mailtix.lifecycle.changes import change, record
from mailtix.store import folder_moves
from mailtix.store.models import Suppression, Ticket

REASON = "spam"  # the suppression's reason; #notspam removes only those


def mark_spam(config: Config, ticket: Ticket, now: datetime, actor: str) -> None:
    if ticket.spam:
        record(ticket, EventType.SPAM, f"#spam by {actor}: already marked", now, actor=actor)
        return
    ticket.spam = True
    row = {"reason": REASON, "ticket": ticket.id, "created_at": now}
    Suppression.insert(address=ticket.customer, **row).on_conflict(
        conflict_target=[Suppression.address], update=row
    ).execute()
    days = config.tickets.suppression_days
    detail = f"marked spam by {actor}; no automatic mail to {ticket.customer} for {days} days"
    record(ticket, EventType.SPAM, detail, now, actor=actor)
    _move_mail(config, ticket, True, now)
    if ticket.status != Status.CLOSED:
        change(ticket, Field.STATUS, Status.CLOSED, now, sla=config.sla, actor=actor,
               reason="#spam")  # fmt: skip


def unmark_spam(config: Config, ticket: Ticket, now: datetime, actor: str) -> None:
    if not ticket.spam:
        record(ticket, EventType.SPAM, f"#notspam by {actor}: not marked", now, actor=actor)
        return
    ticket.spam = False
    Suppression.delete().where(
        (Suppression.address == ticket.customer) & (Suppression.reason == REASON)
    ).execute()
    record(ticket, EventType.SPAM, f"not spam, says {actor}", now, actor=actor)
    _move_mail(config, ticket, False, now)
    change(ticket, Field.STATUS, Status.OPEN, now, sla=config.sla, actor=actor, reason="#notspam")


def _move_mail(config: Config, ticket: Ticket, to_spam: bool, now: datetime) -> None:
    mailbox = config.mailbox(ticket.mailbox)
    if mailbox is not None and mailbox.polled:
        folder_moves.ask(ticket, to_spam, now)
