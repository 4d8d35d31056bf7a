"""Ticket life cycle: new → open → pending → resolved → closed, reopened by a customer reply.

``change_status`` is the one way the desks and the timed jobs change a status: it records the
status event (who and why), stamps ``resolved_at``, and queues the customer's status mail
(``[lifecycle] status_mails``) and, on resolve, the satisfaction survey (``[survey]``).
The rest are small pure decisions the desks and jobs ask.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mailtix.config.model import Config, MailboxConfig
from mailtix.domain.values import Address
from mailtix.outbound.mailer import Letter, Mailer, last_customer_message_id
from mailtix.store.models import Event, Ticket
from mailtix.store.tickets import set_status, visible_thread_ids

DONE = ("resolved", "closed")
TITLES = {
    "new": "New",
    "open": "Open",
    "pending": "Waiting for your reply",
    "resolved": "Resolved",
    "closed": "Closed",
    "reopened": "Reopened",
}


def status_mail_kind(old: str, new: str) -> str:
    """Which status mail a change means: "reopened" for resolved/closed → not done, else the
    new status."""
    return "reopened" if old in DONE and new not in DONE else new


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
    old = ticket.status
    if old == status:
        return False
    set_status(ticket, status, now, why=why, actor=actor)
    if status == "resolved" or (status == "closed" and ticket.resolved_at is None):
        ticket.resolved_at = now
    elif status not in DONE:
        ticket.resolved_at = None
    ticket.save()
    config = mailer.config
    kind = status_mail_kind(old, status)
    wanted = kind in config.lifecycle.status_mails if tell_customer is None else tell_customer
    mailbox = mailbox_for(config, ticket)
    if wanted and ticket.customer not in config.own_addresses:
        queue_status_mail(mailer, ticket, mailbox, kind, old, automatic, now)
    if status == "resolved" and config.survey.enabled:
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
        record_kind="auto",
    )
    mailer.queue(letter, ticket, mailbox, now)


def record_first_response(ticket: Ticket, now: datetime) -> None:
    """The first agent answer relayed to the customer stops the first-response clock."""
    if ticket.first_response_at is None:
        ticket.first_response_at = now
        ticket.save()


def closed_too_long(ticket: Ticket, now: datetime, config: Config) -> bool:
    """A reply to this ticket opens a new, linked ticket (closed over ``reopen_closed_days``)."""
    days = config.lifecycle.reopen_closed_days
    if ticket.status != "closed" or ticket.closed_at is None or days <= 0:
        return False
    return now - ticket.closed_at > timedelta(days=days)


def pending_since(ticket: Ticket) -> datetime | None:
    """When the ticket last became pending (its latest status event into "pending")."""
    row = (
        Event.select(Event.at)
        .where(
            (Event.ticket == ticket)
            & (Event.type == "status")
            & Event.detail.contains(" -> pending:")
        )
        .order_by(Event.at.desc(), Event.id.desc())
        .first()
    )
    return row.at if row is not None else None
