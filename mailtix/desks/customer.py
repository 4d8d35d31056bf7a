"""Mail from customers (and anyone who is not an agent): open a ticket or add to one,
acknowledge, and tell the agents.

A new ticket gets the routing decision, the customer's Cc'd people as participants (policy
``agents.cc_policy``), one acknowledgement unless the mail is automated or a rule says not to,
and a notification to the agents. A reply joins its ticket, reopens it when resolved or
closed, and notifies the agents; automated mail is kept but changes nothing.
"""

from __future__ import annotations

from mailtix.decisions import automated, routing
from mailtix.decisions.assign import pick_assignee
from mailtix.decisions.correlate import clean_subject, format_ref
from mailtix.desks.intake import Desk, DeskResult, Incoming
from mailtix.domain.errors import MailtixError
from mailtix.domain.values import RouteDecision
from mailtix.inbound.reply_text import visible_reply
from mailtix.lifecycle import sla, survey
from mailtix.lifecycle import status as lifecycle
from mailtix.store.models import Ticket
from mailtix.store.tickets import (
    add_event,
    add_participant,
    create_ticket,
    store_incoming,
    touch,
)

MAX_COPIED = 20  # copied people taken on as participants; more only by #participant add


class NoSender(MailtixError):
    """The mail has no usable sender address, so there is no one to open a ticket for."""


class CustomerDesk(Desk):
    def open_ticket(self, item: Incoming, decision: RouteDecision) -> DeskResult:
        customer = item.mail.sender
        if customer is None:
            raise NoSender("no usable sender address (From missing or not a valid address)")
        now = item.now
        ticket = create_ticket(
            subject=clean_subject(item.mail.subject, self.config.tickets.prefix),
            customer=customer.email, customer_name=customer.name, mailbox=item.mailbox.name,
            department=decision.department, priority=decision.priority, tags=decision.tags,
            now=now,
        )  # fmt: skip
        sla.apply_due(ticket, self.config.sla)
        self._keep(ticket, item)
        rules = ", ".join(decision.matched_rules) or "mailbox defaults"
        add_event(ticket, "created", f"from {customer.email} via {item.mailbox.name}; {rules}", now)
        assignee = pick_assignee(self.config, decision.department, decision.assign)
        if assignee:
            ticket.assignee = assignee
            ticket.save()
            add_event(ticket, "assigned", f"{assignee} (rule: {decision.assign})", now)
        if not item.automation.automated:
            self._add_copied_people(ticket, item)
        self._acknowledge(ticket, item, decision.acknowledge, new=True)
        if not item.automation.automated:
            self.notifier.notify(ticket, item.mailbox, "new", now, mail=item.mail)
        return DeskResult("ticket", ticket, item.thread_reason)

    def follow_up(self, ticket: Ticket, item: Incoming) -> DeskResult:
        now, automation = item.now, item.automation
        if not automation.automated and lifecycle.closed_too_long(ticket, now, self.config):
            return self._open_linked(ticket, item)
        self._keep(ticket, item)
        sender = item.mail.sender.email if item.mail.sender else "(unknown)"
        if automation.kind == "bounce":
            add_event(ticket, "bounce", automation.reason, now)
        elif automation.automated:
            add_event(ticket, "message", f"automated mail from {sender}: {automation.reason}", now)
        elif survey.record_answer(ticket, item.mail, now, sender):  # never reopens the ticket
            add_event(ticket, "message", f"survey answer from {sender} ({item.thread_reason})", now)
        else:
            add_event(ticket, "message", f"reply from {sender} ({item.thread_reason})", now)
            if ticket.status in ("resolved", "closed", "pending"):
                reopen = ticket.status != "pending"
                lifecycle.change_status(
                    self.mailer, ticket, "open", now, why=f"reply from {sender}", actor=sender
                )
                if reopen:
                    add_event(ticket, "reopened", f"reply from {sender}", now, sender)
            if self.config.tickets.acknowledge_followups:
                self._acknowledge(ticket, item, True, new=False)
            text = visible_reply(item.mail.text).text
            self.notifier.notify(ticket, item.mailbox, "reply", now, mail=item.mail, text=text)
        touch(ticket, now)
        return DeskResult("followup", ticket, item.thread_reason)

    def _open_linked(self, old: Ticket, item: Incoming) -> DeskResult:
        """A reply to a ticket closed over ``reopen_closed_days`` ago: a new ticket, linked."""
        result = self.open_ticket(item, routing.route(item.mail, item.mailbox, self.config))
        new = result.ticket
        assert new is not None
        new.linked_ticket = old.id
        new.save()
        prefix = self.config.tickets.prefix
        old_ref, new_ref = format_ref(prefix, old.id), format_ref(prefix, new.id)
        days = self.config.lifecycle.reopen_closed_days
        add_event(new, "linked", f"continues {old_ref} (closed over {days} days ago)", item.now)
        add_event(old, "linked", f"a later reply opened {new_ref}", item.now)
        return DeskResult("ticket", new, f"reply to {old_ref}, closed over {days} days: {new_ref}")

    def _keep(self, ticket: Ticket, item: Incoming) -> None:
        kind = "auto" if item.automation.automated else "customer"
        store_incoming(
            ticket, item.mail, item.raw, item.sha, kind=kind, automation=item.automation.kind,
            thread_reason=item.thread_reason, now=item.now,
        )  # fmt: skip

    def _add_copied_people(self, ticket: Ticket, item: Incoming) -> None:
        """People the customer put in To/Cc besides us become participants (cc_policy)."""
        if self.config.agents_policy.cc_policy != "participants":
            return
        skip = {*self.config.own_addresses, *(a.email for a in self.config.agents), ticket.customer}
        people = list({p.email: p for p in item.mail.recipients if p.email not in skip}.values())
        for person in people[:MAX_COPIED]:
            add_participant(ticket, person.email, person.name, "cc", item.now)
            add_event(ticket, "participant", f"added {person.email} (Cc)", item.now)
        if len(people) > MAX_COPIED:
            more = len(people) - MAX_COPIED
            add_event(ticket, "participant", f"{more} more recipients not added", item.now)

    def _acknowledge(self, ticket: Ticket, item: Incoming, wanted: bool, *, new: bool) -> None:
        now = item.now
        if not wanted:
            add_event(ticket, "no-ack", "routing rule says acknowledge = false", now)
        elif item.automation.automated:
            add_event(ticket, "no-ack", f"automated mail ({item.automation.reason})", now)
        elif ticket.customer in self.config.own_addresses:
            add_event(ticket, "no-ack", "customer address is one of our own", now)
        elif refused := automated.responses_refused(item.mail):
            add_event(ticket, "no-ack", f"the sender asks for none ({refused})", now)
        else:
            self.mailer.acknowledge(ticket, item.mailbox, item.mail.message_id, now, new=new)
