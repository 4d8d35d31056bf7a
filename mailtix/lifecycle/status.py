"""Ticket life cycle: new → open → pending → resolved → closed, reopened by a customer reply.

``change_status`` is the one way the desks and the timed jobs change a status: the change itself
(event, stamps) goes through ``changes``; then it queues the customer's status mail
(``[lifecycle] status_mails``) and, on resolve, the satisfaction survey (``[survey]``).
The rest are small decisions the desks and jobs ask.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mailtix.config.model import Config, MailboxConfig
from mailtix.domain.values import Address
from mailtix.domain.vocabulary import DONE_STATUSES, EventType, Field, MessageKind, Status
from mailtix.lifecycle.changes import change
from mailtix.outbound.mailer import Letter, Mailer, last_customer_message_id
from mailtix.store.models import Event, Ticket
from mailtix.store.tickets import visible_thread_ids

REOPENED = "reopened"  # the status mail of a resolved or closed ticket that is not done again
TITLES = {
    Status.NEW: "New",
    Status.OPEN: "Open",
    Status.PENDING: "Waiting for your reply",
    Status.RESOLVED: "Resolved",
    Status.CLOSED: "Closed",
    REOPENED: "Reopened",
}


def status_mail_kind(old: str, new: str) -> str:
    """Which status mail a change means: "reopened" for resolved/closed → not done, else the
    new status."""
    return REOPENED if old in DONE_STATUSES and new not in DONE_STATUSES else new


def mailbox_for(config: Config, ticket: Ticket) -> MailboxConfig:
    """The mailbox the ticket came in through (the first one if it is no longer configured)."""
    return config.mailbox(ticket.mailbox) or config.mailboxes[0]


def change_status(
    mailer: Mailer,
    ticket: Ticket,
    status: str,
    now: datetime,
    *,
    why: str,
    actor: str,
    tell_customer: bool | None = None,
    automatic: bool = False,
) -> bool:
    """Set ``status`` (recorded as a status event); queue the status mail when configured (or
    when ``tell_customer`` says so) and the survey on resolve; ``automatic``: a timed job did it.
    False when nothing changed."""
    old, config = ticket.status, mailer.config
    if not change(ticket, Field.STATUS, status, now, sla=config.sla, actor=actor, reason=why):
        return False
    kind = status_mail_kind(old, status)
    wanted = kind in config.lifecycle.status_mails if tell_customer is None else tell_customer
    mailbox = mailbox_for(config, ticket)
    if wanted and ticket.customer not in config.own_addresses:
        queue_status_mail(mailer, ticket, mailbox, kind, old, automatic, now)
    if status == Status.RESOLVED and config.survey.enabled:
        from mailtix.lifecycle.survey import send_survey

        send_survey(mailer, ticket, mailbox, now)
    return True


def queue_status_mail(
    mailer: Mailer,
    ticket: Ticket,
    mailbox: MailboxConfig,
    kind: str,
    previous: str,
    automatic: bool,
    now: datetime,
) -> None:
    """The customer's "[SUP-42] Resolved: ..." mail, threaded and kept on the ticket."""
    letter = Letter(
        template="status",
        to=(Address(ticket.customer, ticket.customer_name),),
        extra={
            "change": {
                "status": kind,
                "previous": previous,
                "title": TITLES.get(kind, kind),
                "automatic": automatic,
                "autoclose_days": mailer.config.lifecycle.resolved_autoclose_days,
            }
        },
        in_reply_to=last_customer_message_id(ticket),
        references=tuple(visible_thread_ids(ticket)),
        record_kind=MessageKind.AUTO,
    )
    mailer.queue(letter, ticket, mailbox, now)


def closed_too_long(ticket: Ticket, now: datetime, config: Config) -> bool:
    """A reply to this ticket opens a new, linked ticket (closed over ``reopen_closed_days``)."""
    days = config.lifecycle.reopen_closed_days
    if ticket.status != Status.CLOSED or ticket.closed_at is None or days <= 0:
        return False
    return now - ticket.closed_at > timedelta(days=days)


def pending_since(ticket: Ticket) -> datetime | None:
    """When the ticket last became pending (its latest status event into "pending")."""
    row = (
        Event.select(Event.at)
        .where(
            (Event.ticket == ticket)
            & (Event.type == EventType.STATUS)
            & (Event.new_value == Status.PENDING)
        )
        .order_by(Event.at.desc(), Event.id.desc())
        .first()
    )
    return row.at if row is not None else None
