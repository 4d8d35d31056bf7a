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
from mailtix.outbound import budget_counts as counts
from mailtix.store.lookups import held_since, mails_of_kind_since
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
    ticket_id = ticket.id if ticket is not None else None
    about = [counts.about(recipient, ticket_id)] if ticket_id is not None else []
    if automatic:  # the suppression and the counts it needs: one statement at most
        bounced_since = now - timedelta(days=config.tickets.suppression_days)
        wanted = [counts.to(recipient), *about, *([counts.sent_from(sender)] if sender else [])]
        bounced, found = counts.read(wanted, since, bounced=(recipient, bounced_since))
        if bounced:
            return "undeliverable"
        if found["to"] >= config.tickets.auto_reply_limit_per_hour:
            return "rate limit"
        if sender and found["from"] >= config.tickets.auto_reply_budget_per_hour:
            return MAILBOX_BUDGET
        if template != NOTIFICATION:
            over = ticket_id is not None and found["ticket"] >= per_ticket
            return "ticket mail budget" if over else None
    if template == NOTIFICATION:  # both counts it needs: one statement at most
        _, found = counts.read([counts.notified(recipient), *about], since)
        if found["notified"] >= config.agents_policy.notifications_per_hour:
            return "notification budget"
        over = ticket_id is not None and found["ticket"] >= per_ticket
        return "ticket mail budget" if over else None
    if ticket_id is not None:
        _, found = counts.read(about, since)
        if found["ticket"] >= per_ticket:
            return "ticket mail budget"
    return None


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
