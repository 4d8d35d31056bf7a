"""Automatic mail mailtix sends on its own (acknowledgements): render, compose, queue in the outbox.

Customer data goes into templates only as context. Automatic mail is rate-limited per recipient
(``tickets.auto_reply_limit_per_hour``) so a broken autoresponder cannot start a loop.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from mailtix.compose import compose, make_message_id
from mailtix.config import Config, MailboxConfig
from mailtix.correlate import format_ref
from mailtix.render import TemplateRenderer
from mailtix.store.models import OutboxItem, Ticket
from mailtix.store.tickets import add_event, store_outgoing, thread_ids
from mailtix.values import Address, OutgoingMail

log = logging.getLogger(__name__)


def message_id_domain(config: Config) -> str:
    if config.tickets.message_id_domain:
        return config.tickets.message_id_domain
    return config.mailboxes[0].address.rpartition("@")[2] if config.mailboxes else "mailtix.invalid"


def ticket_context(config: Config, ticket: Ticket, mailbox: MailboxConfig) -> dict[str, object]:
    return {
        "ticket": {
            "ref": format_ref(config.tickets.prefix, ticket.id),
            "subject": ticket.subject,
            "status": ticket.status,
            "priority": ticket.priority,
            "department": ticket.department,
            "customer": ticket.customer,
        },
        "customer": {"email": ticket.customer, "name": ticket.customer_name},
        "mailbox": {
            "name": mailbox.name,
            "address": mailbox.address,
            "display_name": mailbox.display_name,
        },
    }


def over_rate_limit(config: Config, recipient: str, now: datetime) -> bool:
    limit = config.tickets.auto_reply_limit_per_hour
    sent = (
        OutboxItem.select()
        .where(
            (OutboxItem.recipient_key == recipient)
            & (OutboxItem.automatic == True)  # noqa: E712 (peewee expression)
            & (OutboxItem.created_at > now - timedelta(hours=1))
        )
        .count()
    )
    return sent >= limit


def queue_automatic(
    config: Config,
    renderer: TemplateRenderer,
    *,
    kind: str,
    ticket: Ticket,
    mailbox: MailboxConfig,
    in_reply_to: str | None,
    now: datetime,
) -> OutboxItem | None:
    """Render ``kind`` for the ticket's customer and queue it; None when rate-limited."""
    recipient = ticket.customer
    if over_rate_limit(config, recipient, now):
        add_event(ticket, "suppressed", f"{kind} to {recipient}: rate limit reached", now)
        log.warning("%s to %s suppressed: rate limit", kind, recipient)
        return None
    rendered = renderer.render(kind, ticket_context(config, ticket, mailbox), ticket.department)
    references = tuple(thread_ids(ticket))
    outgoing = OutgoingMail(
        sender=Address(mailbox.address, mailbox.display_name),
        to=(Address(recipient, ticket.customer_name),),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=make_message_id(message_id_domain(config)),
        in_reply_to=in_reply_to,
        references=references,
        auto_submitted="auto-replied",
    )
    raw = compose(outgoing)
    store_outgoing(
        ticket,
        kind="auto",
        sender=mailbox.address,
        sender_name=mailbox.display_name,
        to=[recipient],
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=outgoing.message_id,
        in_reply_to=in_reply_to or "",
        references=references,
        now=now,
    )
    return OutboxItem.create(
        ticket=ticket,
        kind=kind,
        automatic=True,
        envelope_from=mailbox.address,
        recipients=[recipient],
        recipient_key=recipient,
        message_id=outgoing.message_id,
        rfc822=raw,
        status="pending",
        next_attempt_at=now,
        created_at=now,
    )
