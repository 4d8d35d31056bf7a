"""Mail from an agent's address: verify it, then apply its commands and relay its answer.

A mail counts as the agent's only when it carries a reply token mailtix put in a notification
to that agent about that ticket, or (when configured) the topmost Authentication-Results from a
trusted host says DMARC/DKIM pass for the From domain. An unverified mail runs no command, is
relayed to no one, is kept on the ticket as an internal note, and the real agent alone is
told; one that belongs to no ticket is held on a ticket in the claimed agent's own name, so
nobody it names hears anything. A verified mail that belongs to no ticket opens one for the
customer it was forwarded from (or named by ``#customer``), who gets the acknowledgement.
An agent's automatic reply is only kept as a note. What a verified mail on a ticket does is in
``agent_answer`` (commands, relay, notes), its commands in ``ticket_commands`` and
``agent_workflow``.
"""

from __future__ import annotations

from mailtix.decisions import agent_commands, routing
from mailtix.decisions.absence import absent_reply
from mailtix.decisions.agent_auth import (
    authenticated_sender,
    notification_message_id,
    token_ticket,
    verify_token,
)
from mailtix.decisions.agent_commands import CommandBlock
from mailtix.decisions.correlate import clean_subject, header_ids, subject_tags
from mailtix.decisions.forwarded import forwarded_sender, strip_forward_prefix
from mailtix.decisions.organisations import CustomerFacts, Membership
from mailtix.desks.agent_answer import AnswerDesk
from mailtix.desks.customer import known_customer
from mailtix.desks.intake import DeskResult, Incoming
from mailtix.domain.values import Address, ParsedMail
from mailtix.domain.vocabulary import EventType, MessageKind
from mailtix.inbound.parse import parse_message
from mailtix.lifecycle.changes import opened, record
from mailtix.outbound.mailer import Letter
from mailtix.store.customers import seen
from mailtix.store.models import Ticket
from mailtix.store.tickets import (
    UNVERIFIED,
    add_participant,
    create_ticket,
    get_ticket,
    store_incoming,
    surviving,
)


class AgentDesk(AnswerDesk):
    """The desk for mail from an agent's address; ``handle`` decides what it may do."""

    def handle(self, item: Incoming, agent: str, ticket: Ticket | None) -> DeskResult:
        proven = verify_token(self.notifier.secret, header_ids(item.mail), agent)
        if proven is not None and (found := get_ticket(proven)) is not None:
            ticket = surviving(found)  # a token for a merged ticket acts on its survivor
            proven = ticket.id
        if ticket is None:
            ticket = self._named_ticket(item.mail)
        auth = authenticated_sender(item.mail, self.config.agents_policy.trusted_authserv_ids)
        by_token = ticket is not None and proven == ticket.id and not auth.failed
        if ticket is not None and (item.automation.automated or absent_reply(item.mail.text)):
            return self._keep_automatic(item, agent, ticket, by_token or auth.verified)
        if not (by_token or auth.failed) and (hint := self.forwarded_hint(item, agent)):
            return hint  # Forward instead of Reply: a hint (a DMARC failure is a forgery)
        if not (by_token or auth.verified):
            why = "no reply token from a mailtix notification to you"
            if auth.failed:
                why = "a reply token, but your domain failed DMARC at our MX"
            if ticket is None:
                return self._hold_opening(item, agent, f"{why}; {auth.reason}")
            return self._unverified(item, agent, ticket, f"{why}; {auth.reason}")
        if ticket is None:
            return self._open_for_customer(item, agent)
        return self._apply(item, agent, ticket, "reply token" if by_token else auth.method)

    def _keep_automatic(
        self, item: Incoming, agent: str, ticket: Ticket, verified: bool
    ) -> DeskResult:
        """An agent's out-of-office (or other automatic) answer: an internal note, never
        relayed, no commands (it would carry the token and the agent's phone number)."""
        why = item.automation.reason if item.automation.automated else "out-of-office text"
        label = f"automatic reply from {agent} ({why})"
        reason = label if verified else f"{UNVERIFIED} {label}"
        self._keep(item, ticket, agent, reason, item.mail.text)
        record(ticket, EventType.NOTE, f"{label}: kept, not relayed", item.now, actor=agent)
        return DeskResult("followup", ticket, f"{label}: kept as an internal note")

    def _named_ticket(self, mail: ParsedMail) -> Ticket | None:
        """The ticket a mail points at without proof (for filing an unverified note)."""
        for message_id in header_ids(mail):
            number = token_ticket(message_id)
            found = get_ticket(number) if number is not None else None
            if found is not None:
                return found
        for number in subject_tags(mail.subject, self.config.tickets.prefix):
            found = get_ticket(number)
            if found is not None:
                return found
        return None

    def _unverified(
        self, item: Incoming, agent: str, ticket: Ticket, why: str, *, held: bool = False
    ) -> DeskResult:
        store_incoming(
            ticket, item.mail, item.raw, item.sha, kind=MessageKind.NOTE, automation="human",
            thread_reason=f"{UNVERIFIED} mail claiming to be {agent}", now=item.now,
        )  # fmt: skip
        record(ticket, EventType.UNVERIFIED, f"mail claiming to be {agent}: {why}", item.now)
        self._warn(item, agent, ticket, why, held)
        return DeskResult("followup", ticket, f"unverified mail claiming {agent}: kept as a note")

    def _warn(self, item: Incoming, agent: str, ticket: Ticket, why: str, held: bool) -> None:
        """The warning to the real agent, alone. Its Message-ID is her reply token, so a reply
        to it (``#customer carol@…`` for a held forward) is hers and verified."""
        letter = Letter(
            template="unverified",
            to=(Address(agent, self.config.agent_name(agent)),),
            extra={
                "agent": {"email": agent, "name": self.config.agent_name(agent)},
                "event": {"kind": "unverified", "title": "Unverified mail", "detail": why},
                "message": {"from": agent, "text": item.mail.text[:5000]},
                "held": held,
            },
            message_id=notification_message_id(
                self.notifier.secret, ticket.id, agent, self.mailer.domain
            ),
            auto_submitted="auto-generated",
        )
        self.mailer.queue(letter, ticket, item.mailbox, item.now)

    def _hold_opening(self, item: Incoming, agent: str, why: str) -> DeskResult:
        """Unverified mail in an agent's name that belongs to no ticket (a forward, a
        ``#customer`` opening): kept on a ticket of the claimed agent's own, status new, with
        no acknowledgement, notification, SLA or command, and only the agent is told. Nobody
        named in it hears anything: a forged agent cannot make mailtix mail a victim."""
        nobody = CustomerFacts(agent, Membership(None, "held mail: no organisation"))
        decision = routing.route(item.mail, item.mailbox, self.config, nobody)
        subject = strip_forward_prefix(clean_subject(item.mail.subject, self.config.tickets.prefix))
        ticket = create_ticket(
            subject=subject, customer=agent, customer_name=self.config.agent_name(agent),
            mailbox=item.mailbox.name, department=decision.department,
            priority=decision.priority, tags=decision.tags, now=item.now,
        )  # fmt: skip
        opened(ticket, f"held: unverified mail claiming to be {agent}", item.now, sla=None)
        self._unverified(item, agent, ticket, f"{why}; held on a ticket of its own", held=True)
        return DeskResult("ticket", ticket, f"unverified mail claiming {agent}: held, no mail")

    def _open_for_customer(self, item: Incoming, agent: str) -> DeskResult:
        """Verified mail from an agent that belongs to no ticket: a ticket for the customer it
        was forwarded from (or named by ``#customer``), who gets the acknowledgement."""
        block = agent_commands.parse_commands(item.mail.text, agent, self.directory())
        named = next((c.argument for c in block.commands if c.name == "customer"), None)
        ignore = {*self.config.own_addresses, *(a.email for a in self.config.agents)}
        found = forwarded_sender(item.mail, ignore, parse_message)
        customer = (
            Address(named) if named else found or Address(agent, self.config.agent_name(agent))
        )
        facts = known_customer(self.config, customer.email)  # their organisation's defaults
        decision = routing.route(item.mail, item.mailbox, self.config, facts)
        subject = strip_forward_prefix(clean_subject(item.mail.subject, self.config.tickets.prefix))
        ticket = create_ticket(
            subject=subject, customer=customer.email, customer_name=customer.name,
            mailbox=item.mailbox.name, department=decision.department,
            priority=decision.priority, tags=decision.tags, now=item.now,
            organisation=decision.organisation,
        )  # fmt: skip
        seen([(customer.email, customer.name)], item.now)
        add_participant(ticket, agent, self.config.agent_name(agent), "agent", item.now)
        self._keep(item, ticket, agent, f"opened by agent {agent}", block.body or item.mail.text)
        detail = f"opened by {agent} for {customer.email}"
        opened(ticket, detail, item.now, sla=self.config.sla, actor=agent)
        self._opening_commands(ticket, block, agent, item)
        if decision.acknowledge and customer.email != agent:
            self.mailer.acknowledge(ticket, item.mailbox, None, item.now)
        detail = f"{agent} opened this ticket for {customer.email}."
        self.notifier.notify(
            ticket, item.mailbox, "opened", item.now, mail=item.mail, detail=detail
        )
        return DeskResult("ticket", ticket, f"opened by agent {agent} for {customer.email}")

    def _opening_commands(
        self, ticket: Ticket, block: CommandBlock, agent: str, item: Incoming
    ) -> None:
        skipped = ("customer", "note", "merge", "reply")  # no ticket to merge or answer yet
        commands = tuple(c for c in block.commands if c.name not in skipped)
        if block.errors:
            record(ticket, EventType.REJECTED, "; ".join(block.errors), item.now, actor=agent)
        if commands:
            self.run_commands(ticket, commands, agent, item)
