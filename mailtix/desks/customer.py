"""Mail from customers (and anyone who is not an agent): open a ticket or add to one,
acknowledge, and tell the agents.

How a new ticket is acknowledged (in full, bare, or not) is ``decisions.acknowledgement``'s.

A new ticket gets the routing decision, the customer's Cc'd people as participants (policy
``agents.cc_policy``), one acknowledgement unless the mail is automated or a rule says not to,
and a notification to the agents. A reply joins its ticket, reopens it when resolved or
closed, and notifies the agents; automated mail is kept but changes nothing. The people of
each mail (the sender of a new ticket or reply, the Cc'd people taken on) are recorded as
customers in one upsert (``store.customers.seen``); a new ticket takes its customer's
organisation and is acknowledged in their language (``decisions.template_language``).
"""

from __future__ import annotations

from mailtix.config.model import Config
from mailtix.decisions import acknowledgement, automated, organisations, routing
from mailtix.decisions.assign import pick_assignee
from mailtix.decisions.correlate import clean_subject, format_ref
from mailtix.decisions.organisations import CustomerFacts
from mailtix.decisions.template_language import template_language
from mailtix.desks.intake import Desk, DeskResult, Incoming
from mailtix.domain.errors import MailtixError
from mailtix.domain.values import ParsedMail, RouteDecision
from mailtix.domain.vocabulary import DONE_STATUSES, EventType, Field, MessageKind, Status
from mailtix.lifecycle import status as lifecycle
from mailtix.lifecycle import survey
from mailtix.lifecycle.changes import change, opened, record, touch
from mailtix.outbound.notify import MAX_TEXT, Known
from mailtix.store.customers import customer_facts, seen
from mailtix.store.models import OutboxItem, Ticket
from mailtix.store.tickets import add_participant, create_ticket, store_incoming

MAX_COPIED = 20  # copied people taken on as participants; more only by #participant add


class NoSender(MailtixError):
    """The mail has no usable sender address, so there is no one to open a ticket for."""


def known_customer(config: Config, email: str) -> CustomerFacts:
    """What the store and config know of ``email`` (one look-up by address key)."""
    record = customer_facts(email)
    return organisations.facts(
        config.organisations, email, recorded=record.organisation if record else None,
        tags=tuple(record.tags) if record else (), language=record.language if record else "",
    )  # fmt: skip


class CustomerDesk(Desk):
    def customer_facts(self, mail: ParsedMail) -> CustomerFacts | None:
        """What the store and config know of the sender."""
        return known_customer(self.config, mail.sender.email) if mail.sender else None

    def open_ticket(
        self, item: Incoming, decision: RouteDecision, facts: CustomerFacts | None = None
    ) -> DeskResult:
        customer = item.mail.sender
        if customer is None:
            raise NoSender("no usable sender address (From missing or not a valid address)")
        now = item.now
        ticket = create_ticket(
            subject=clean_subject(item.mail.subject, self.config.tickets.prefix),
            customer=customer.email, customer_name=customer.name, mailbox=item.mailbox.name,
            department=decision.department, priority=decision.priority, tags=decision.tags,
            now=now, organisation=decision.organisation,
        )  # fmt: skip
        self._keep(ticket, item)
        rules = ", ".join(decision.matched_rules) or "mailbox defaults"
        detail = f"from {customer.email} via {item.mailbox.name}; {rules}"
        if decision.organisation:
            detail += f"; organisation {decision.organisation}"
        opened(ticket, detail, now, sla=self.config.sla)
        assignee = pick_assignee(self.config, decision.department, decision.assign)
        if assignee:
            change(ticket, Field.ASSIGNEE, assignee, now, sla=self.config.sla,
                   reason=f"rule: {decision.assign}")  # fmt: skip
        copied = [] if item.automation.automated else self._add_copied_people(ticket, item)
        seen([(customer.email, customer.name), *((e, n) for e, n, _ in copied)], now)
        language = self._language(ticket, item, facts)
        ack = self._acknowledge(ticket, item, decision.acknowledge, new=True, language=language)
        if not item.automation.automated and self.notifier.recipients(ticket):
            shown = item.mail.text[: 2 * MAX_TEXT]  # what a notification can show, not 20 MB
            text = item.visible_text(shown)  # signature and quotes cut, as in replies
            thread = [item.mail.message_id, ack.message_id if ack is not None else None]
            known = Known(  # what the store holds of the ticket just opened: no need to read it
                thread=tuple(i for i in thread if i is not None),
                audience=tuple(dict.fromkeys([ticket.customer, *(e for e, _, a in copied if a)])),
            )
            self.notifier.notify(ticket, item.mailbox, "new", now, mail=item.mail, text=text,
                                 known=known)  # fmt: skip
        return DeskResult("ticket", ticket, item.thread_reason)

    def follow_up(self, ticket: Ticket, item: Incoming) -> DeskResult:
        now, automation = item.now, item.automation
        if not automation.automated and lifecycle.closed_too_long(ticket, now, self.config):
            return self._open_linked(ticket, item)
        self._keep(ticket, item)
        sender = item.mail.sender.email if item.mail.sender else "(unknown)"
        if automation.kind == "bounce":
            record(ticket, EventType.BOUNCE, automation.reason, now)
        elif automation.automated:
            detail = f"automated mail from {sender}: {automation.reason}"
            record(ticket, EventType.MESSAGE, detail, now)
        elif survey.record_answer(ticket, item.mail, now, sender):  # never reopens the ticket
            detail = f"survey answer from {sender} ({item.thread_reason})"
            record(ticket, EventType.MESSAGE, detail, now)
        else:
            record(ticket, EventType.MESSAGE, f"reply from {sender} ({item.thread_reason})", now)
            if item.mail.sender is not None:
                seen([(item.mail.sender.email, item.mail.sender.name)], now)
            if ticket.status in (*DONE_STATUSES, Status.PENDING):
                reopen = ticket.status != Status.PENDING
                lifecycle.change_status(
                    self.mailer, ticket, Status.OPEN, now, why=f"reply from {sender}", actor=sender
                )
                if reopen:
                    record(ticket, EventType.REOPENED, f"reply from {sender}", now, actor=sender)
            if self.config.tickets.acknowledge_followups:
                self._acknowledge(ticket, item, True, new=False)
            if self.notifier.recipients(ticket):  # the reply's text cut only for a notification
                text = item.visible_text(item.mail.text)
                known = Known(audience=item.audience)  # a tagged reply's: threading read it
                self.notifier.notify(ticket, item.mailbox, "reply", now, mail=item.mail, text=text,
                                     known=known)  # fmt: skip
        touch(ticket, now)
        return DeskResult("followup", ticket, item.thread_reason)

    def _open_linked(self, old: Ticket, item: Incoming) -> DeskResult:
        """A reply to a ticket closed over ``reopen_closed_days`` ago: a new ticket, linked."""
        facts = self.customer_facts(item.mail)
        decision = routing.route(item.mail, item.mailbox, self.config, facts)
        result = self.open_ticket(item, decision, facts)
        new = result.ticket
        assert new is not None
        new.linked_ticket = old.id
        prefix = self.config.tickets.prefix
        old_ref, new_ref = format_ref(prefix, old.id), format_ref(prefix, new.id)
        days = self.config.lifecycle.reopen_closed_days
        detail = f"continues {old_ref} (closed over {days} days ago)"
        record(new, EventType.LINKED, detail, item.now)
        record(old, EventType.LINKED, f"a later reply opened {new_ref}", item.now)
        return DeskResult("ticket", new, f"reply to {old_ref}, closed over {days} days: {new_ref}")

    def _keep(self, ticket: Ticket, item: Incoming) -> None:
        kind = MessageKind.AUTO if item.automation.automated else MessageKind.CUSTOMER
        store_incoming(
            ticket, item.mail, item.raw, item.sha, kind=kind, automation=item.automation.kind,
            thread_reason=item.thread_reason, now=item.now,
        )  # fmt: skip

    def _add_copied_people(self, ticket: Ticket, item: Incoming) -> list[tuple[str, str, bool]]:
        """People the customer put in To/Cc besides us become participants (cc_policy);
        returns them as (address, name, whether added now), in the order added."""
        if self.config.agents_policy.cc_policy != "participants":
            return []
        skip = {*self.config.own_addresses, *(a.email for a in self.config.agents), ticket.customer}
        people = list({p.email: p for p in item.mail.recipients if p.email not in skip}.values())
        copied = []
        for person in people[:MAX_COPIED]:
            added = add_participant(ticket, person.email, person.name, "cc", item.now)
            record(ticket, EventType.PARTICIPANT, f"added {person.email} (Cc)", item.now)
            copied.append((person.email, person.name, added))
        if len(people) > MAX_COPIED:
            more = len(people) - MAX_COPIED
            record(ticket, EventType.PARTICIPANT, f"{more} more recipients not added", item.now)
        return copied

    def _language(self, ticket: Ticket, item: Incoming, facts: CustomerFacts | None) -> str:
        """The language of the customer's mail: theirs, their organisation's, the mailbox's."""
        if facts is None:
            facts = self.customer_facts(item.mail)
        own = facts.language if facts else ""
        found = self.config.organisations.named(ticket.organisation)
        return template_language(own, found.language if found else "", item.mailbox.language)

    def _acknowledge(
        self, ticket: Ticket, item: Incoming, wanted: bool, *, new: bool,
        language: str | None = None,
    ) -> OutboxItem | None:  # fmt: skip
        """The acknowledgement queued (it is kept on the ticket too), or None."""
        now = item.now
        if not wanted:
            record(ticket, EventType.NO_ACK, "routing rule says acknowledge = false", now)
        elif item.automation.automated:
            record(ticket, EventType.NO_ACK, f"automated mail ({item.automation.reason})", now)
        elif ticket.customer in self.config.own_addresses:
            record(ticket, EventType.NO_ACK, "customer address is one of our own", now)
        elif refused := automated.responses_refused(item.mail):
            record(ticket, EventType.NO_ACK, f"the sender asks for none ({refused})", now)
        else:
            mode = acknowledgement.mode(self.config, item.mailbox)
            trusted = self.config.agents_policy.trusted_authserv_ids
            form = acknowledgement.form(mode, item.mail, trusted)
            if form.template is None:
                record(ticket, EventType.NO_ACK, form.reason, now)
                return None
            if form.template != acknowledgement.FULL:
                record(ticket, EventType.BARE_ACK, form.reason, now)
            return self.mailer.acknowledge(
                ticket, item.mailbox, item.mail.message_id, now, new=new, language=language,
                template=form.template,
            )  # fmt: skip
        return None
