"""How much mail mailtix may send, to whom, per hour: the budgets the mailer checks before it
queues anything (windows of one hour, counted in the outbox).

- An address that bounced permanently in the last ``suppression_days`` gets no automatic mail.
- Automatic mail to one address: ``tickets.auto_reply_limit_per_hour``.
- Automatic mail from one mailbox, to anyone: ``tickets.auto_reply_budget_per_hour``, counted
  in the outbox so every worker sees the same count; the first mail it holds in an hour logs
  one warning (per process), the rest only their event on the ticket.
- Notifications to one agent, over all tickets: ``agents.notifications_per_hour``.
- Any mail to one address about one ticket: ``tickets.max_mails_per_ticket_per_hour`` (a loop
  between two autoresponders always runs on one ticket).
- Warnings about unverified mail claiming an agent's address (template ``unverified``) count
  only against their own budget, WARNINGS_PER_HOUR per agent: a flood of forged customer mail
  or of notifications never silences them, and a flood of forgeries makes a few warnings, the
  next of which says how many more arrived meanwhile (``warning_context``).

Escalations and command errors are held only by the per-ticket budget.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from mailtix.config.model import Config
from mailtix.store.lookups import (
    execute,
    held_since,
    mails_of_kind_since,
    ticket_mails_since,
)
from mailtix.store.models import Ticket

WARNING = "unverified"  # the template of the warning to an agent
NOTIFICATION = "notification"
WARNINGS_PER_HOUR = 5  # warnings to one agent about unverified mail
HOUR = timedelta(hours=1)
MAILBOX_BUDGET = "mailbox budget"

log = logging.getLogger(__name__)
_budget_warned: dict[str, datetime] = {}  # mailbox address -> when its budget warning was logged


def held_back(
    config: Config,
    template: str,
    automatic: bool,
    ticket: Ticket | None,
    recipient: str,
    now: datetime,
    *,
    sender: str = "",
) -> str | None:
    """Why a mail from ``template`` to ``recipient`` about ``ticket`` (None: about none, the
    digest), From the mailbox address ``sender``, is not to be queued now ("undeliverable",
    "rate limit", …), or None: it may go."""
    since = now - HOUR
    if template == WARNING:
        sent, _ = mails_of_kind_since(WARNING, recipient, since)
        return "warning budget" if sent >= WARNINGS_PER_HOUR else None
    per_ticket = config.tickets.max_mails_per_ticket_per_hour
    if automatic:  # the suppression and the counts it needs: one statement
        bounced_since = now - timedelta(days=config.tickets.suppression_days)
        ticket_id = ticket.id if ticket is not None else None
        bounced, to_recipient, from_sender, about_ticket = _automatic_counts(
            recipient, sender, ticket_id, since, bounced_since
        )
        if bounced:
            return "undeliverable"
        if to_recipient >= config.tickets.auto_reply_limit_per_hour:
            return "rate limit"
        if sender and from_sender >= config.tickets.auto_reply_budget_per_hour:
            return MAILBOX_BUDGET
        if template != NOTIFICATION:
            over = ticket_id is not None and about_ticket >= per_ticket
            return "ticket mail budget" if over else None
    if template == NOTIFICATION:  # both counts it needs: one statement
        ticket_id = ticket.id if ticket is not None else None
        sent, about_ticket = _notification_counts(recipient, ticket_id, since)
        if sent >= config.agents_policy.notifications_per_hour:
            return "notification budget"
        over = ticket_id is not None and about_ticket >= per_ticket
        return "ticket mail budget" if over else None
    if (
        ticket is not None
        and ticket_mails_since(ticket.id, recipient, since, WARNING) >= per_ticket
    ):
        return "ticket mail budget"
    return None


_AUTOMATIC_COUNTS = (  # each on its own index, as the separate lookups in store.lookups
    "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM suppression WHERE address = ? "
    "AND created_at > ? LIMIT 1) AS s), "
    "(SELECT COUNT(*) FROM outbox WHERE recipient_key = ? AND automatic = ? AND created_at > ?), "
    "(SELECT COUNT(*) FROM outbox WHERE envelope_from = ? AND automatic = ? AND created_at > ?), "
    "(SELECT COUNT(*) FROM outbox WHERE recipient_key = ? AND ticket_id = ? AND kind <> ? "
    "AND created_at > ?)"
)


def _automatic_counts(
    recipient: str, sender: str, ticket_id: int | None, since: datetime, bounced_since: datetime
) -> tuple[bool, int, int, int]:
    """Whether ``recipient`` bounced since ``bounced_since``; the automatic mails to it and
    From ``sender`` since ``since``; the mails to it about ``ticket_id`` since then but the
    warnings (``is_suppressed``, ``automatic_mails_since``, ``automatic_mails_from_since``
    and ``ticket_mails_since`` of ``store.lookups``, in one statement)."""
    params = [
        recipient, bounced_since, recipient, True, since, sender, True, since,
        recipient, ticket_id, WARNING, since,
    ]  # fmt: skip
    bounced, to_recipient, from_sender, about_ticket = execute(_AUTOMATIC_COUNTS, params).fetchone()
    return bool(bounced), int(to_recipient), int(from_sender), int(about_ticket)


_NOTIFICATION_COUNTS = (  # both on the (recipient_key, created_at, ...) index
    "SELECT (SELECT COUNT(*) FROM outbox WHERE recipient_key = ? AND created_at > ? "
    "AND kind = ?), "
    "(SELECT COUNT(*) FROM outbox WHERE recipient_key = ? AND ticket_id = ? AND kind <> ? "
    "AND created_at > ?)"
)


def _notification_counts(recipient: str, ticket_id: int | None, since: datetime) -> tuple[int, int]:
    """The notifications to ``recipient`` since ``since``; the mails to it about ``ticket_id``
    since then but the warnings (the counts of ``mails_of_kind_since`` and
    ``ticket_mails_since`` of ``store.lookups``, in one statement)."""
    params = [recipient, since, NOTIFICATION, recipient, ticket_id, WARNING, since]
    sent, about_ticket = execute(_NOTIFICATION_COUNTS, params).fetchone()
    return int(sent), int(about_ticket)


def warn_mailbox_budget(mailbox: str, now: datetime) -> None:
    """Log that ``mailbox`` is over its budget, at most once an hour."""
    last = _budget_warned.get(mailbox)
    if last is not None and now - last < HOUR:
        return
    _budget_warned[mailbox] = now
    log.warning("automatic mail from %s over auto_reply_budget_per_hour; skipping it for now",
                mailbox)  # fmt: skip


def held_detail(template: str, recipient: str, why: str) -> str:
    """The detail of the ``suppressed`` event for a mail held back."""
    return f"{template} to {recipient}: {why}"


def warning_context(agent: str, now: datetime) -> dict[str, object]:
    """For the warning about to be queued to ``agent``: how many warnings were held back since
    the last one went (``held_back``), and whether this is the last one this hour may send."""
    sent, last = mails_of_kind_since(WARNING, agent, now - HOUR)
    held = held_since(WARNING, agent, "warning budget", last)
    return {"held_back": held, "last_this_hour": sent + 1 >= WARNINGS_PER_HOUR}
