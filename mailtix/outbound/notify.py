"""Notifications to agents: a new ticket, a customer reply, an assignment or a transfer.

Each notification goes to one agent and carries a Message-ID with an HMAC token bound to that
agent and ticket (``agent_auth``), so the agent's reply proves who answers which ticket. Reply-To
is the mailbox address; the mail threads in the agent's client with In-Reply-To/References.
Notifications are internal mail: they do not count against the customer rate limit. They show
the customer's organisation (name and notes) and the customer's own other open tickets (ref,
status, subject; never anyone else's).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from mailtix.config.model import MailboxConfig
from mailtix.decisions import attachments
from mailtix.decisions.agent_auth import notification_message_id
from mailtix.decisions.correlate import format_ref
from mailtix.decisions.forwarded_notice import notice
from mailtix.domain.values import Address, ParsedMail
from mailtix.domain.vocabulary import OPEN_STATUSES
from mailtix.outbound.mailer import Letter, Mailer
from mailtix.store.customers import open_tickets_of
from mailtix.store.lookups import execute
from mailtix.store.models import Ticket
from mailtix.store.settings import agent_secret
from mailtix.store.tickets import visible_thread_ids

MAX_TEXT = 20_000  # characters of the customer's text quoted in a notification
MAX_OTHER_TICKETS = 10  # the customer's other open tickets listed, newest first

TITLES = {
    "new": "New ticket",
    "reply": "Customer reply",
    "assigned": "Assigned to you",
    "transfer": "Transferred to your department",
    "opened": "Ticket opened for a customer",
    "snooze": "Snooze over",
}


@dataclass(frozen=True)
class Known:
    """What the caller knows of a ticket, so that its notification does not read it back (a
    ticket just opened: the pipeline wrote all of it; a tagged reply's audience: threading read
    it): ``thread``, its ``visible_thread_ids``; ``audience``, its ``answer_audience``; None:
    looked up."""

    thread: tuple[str, ...] | None = None
    audience: tuple[str, ...] | None = None


class Notifier:
    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer
        self._secret: bytes | None = None

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = agent_secret(self.mailer.config.agents_policy.secret)
        return self._secret

    def recipients(self, ticket: Ticket) -> list[str]:
        """Who hears about ``ticket``: the assignee alone (policy "assignee", once assigned),
        else every agent of its department who is not away."""
        config = self.mailer.config
        if config.agents_policy.notify == "assignee" and ticket.assignee:
            return [ticket.assignee]
        return self.department_agents(ticket.department)

    def department_agents(self, name: str) -> list[str]:
        """The agents of department ``name`` who are not away."""
        return self.mailer.config.available_agents(name)

    def notify(
        self,
        ticket: Ticket,
        mailbox: MailboxConfig,
        event: str,
        now: datetime,
        *,
        mail: ParsedMail | None = None,
        text: str = "",
        detail: str = "",
        to: Iterable[str] | None = None,
        exclude: str | None = None,
        known: Known | None = None,
    ) -> int:
        """Queue one notification per recipient; returns how many were queued. ``known``:
        the ticket's thread and audience when the caller has them, else they are looked up."""
        targets = [a for a in (self.recipients(ticket) if to is None else to) if a != exclude]
        if not targets:
            return 0
        known = known or Known()
        references = tuple(visible_thread_ids(ticket)) if known.thread is None else known.thread

        @functools.cache
        def shared() -> Mapping[str, object]:  # looked up once, and only for a mail that goes
            return {
                "message": _message_context(mail, text, self.mailer.config.attachments.blocked),
                "audience": (
                    answer_audience(ticket) if known.audience is None else list(known.audience)
                ),
                "replies": self.mailer.renderer.reply_names(),
                **self.customer_context(ticket),
            }

        for agent in dict.fromkeys(targets):
            name = self.mailer.config.agent_name(agent)
            letter = Letter(
                template="notification",
                to=(Address(agent, name),),
                extra={
                    "agent": {"email": agent, "name": name},
                    "event": {"kind": event, "title": TITLES.get(event, event), "detail": detail},
                    "notice": notice(self.secret, ticket.id, agent),
                },
                shared=shared,
                message_id=notification_message_id(
                    self.secret, ticket.id, agent, self.mailer.domain
                ),
                in_reply_to=references[-1] if references else None,
                references=references,
                automatic=False,
                auto_submitted="auto-generated",
            )
            self.mailer.queue(letter, ticket, mailbox, now)
        return len(dict.fromkeys(targets))

    def customer_context(self, ticket: Ticket) -> dict[str, object]:
        """``organisation`` (name, notes; None) and ``other_tickets`` of the ticket's customer."""
        config = self.mailer.config
        found = config.organisations.named(ticket.organisation)
        others = open_tickets_of(
            ticket.customer, OPEN_STATUSES, exclude=ticket.id, limit=MAX_OTHER_TICKETS
        )
        return {
            "organisation": {"name": found.name, "notes": found.notes} if found else None,
            "other_tickets": [
                {"ref": format_ref(config.tickets.prefix, t.id), "status": t.status,
                 "subject": t.subject}
                for t in others
            ],
        }  # fmt: skip


_CC = "SELECT email FROM participant WHERE ticket_id = ? AND role = 'cc' ORDER BY id"


def answer_audience(ticket: Ticket) -> list[str]:
    """Who receives an agent's answer: the customer, then the Cc'd participants (plain SQL:
    composing the query with peewee cost twenty times running it)."""
    copied = [str(row[0]) for row in execute(_CC, [ticket.id]).fetchall()]
    return list(dict.fromkeys([ticket.customer, *copied]))


def _message_context(
    mail: ParsedMail | None, text: str, blocked: Collection[str]
) -> dict[str, object]:
    """The mail as a notification shows it; blocked attachments (``decisions.attachments``)
    are not among ``attachments`` but in ``withheld``, each with why."""
    if mail is None:
        return {"from": "", "from_name": "", "text": text[:MAX_TEXT], "attachments": [],
                "withheld": []}  # fmt: skip
    sender = mail.sender
    kept, withheld = attachments.split(mail.attachments, blocked)
    return {
        "from": sender.email if sender else "",
        "from_name": sender.name if sender else "",
        "text": (text or mail.text)[:MAX_TEXT],
        "attachments": [a.filename for a in kept],
        "withheld": [{"name": name, "why": why} for name, why in withheld],
    }
