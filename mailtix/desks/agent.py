"""Mail from an agent's address: verify it, then apply its commands and relay its answer.

A mail counts as the agent's only when it carries a reply token mailtix put in a notification
to that agent about that ticket, or (when configured) the topmost Authentication-Results from a
trusted host says DMARC/DKIM pass for the From domain. An unverified mail runs no command, is
relayed to no one, is kept on the ticket as an internal note, and the real agent alone is
told; one that belongs to no ticket is held on a ticket in the claimed agent's own name, so
nobody it names hears anything. A verified mail that belongs to no ticket opens one for the
customer it was forwarded from (or named by ``#customer``), who gets the acknowledgement.
Before an answer is relayed, the notification it quotes is cut (``reply_text``) and what would
still give the agent or a token away holds it (``relay_guard``); an agent's automatic reply is
only kept as a note.
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
from mailtix.decisions.agent_commands import Command, CommandBlock, Directory
from mailtix.decisions.correlate import clean_subject, header_ids, subject_tags
from mailtix.decisions.forwarded import forwarded_sender, strip_forward_prefix
from mailtix.decisions.organisations import CustomerFacts, Membership
from mailtix.decisions.relay_guard import (
    TEMPLATE_MARKERS,
    leaks,
    notification_markers,
    relayable_attachments,
)
from mailtix.desks.agent_workflow import WorkflowCommands
from mailtix.desks.customer import known_customer
from mailtix.desks.intake import Desk, DeskResult, Incoming
from mailtix.domain.values import Address, Attachment, ParsedMail
from mailtix.domain.vocabulary import EventType, Field, MessageKind, Status
from mailtix.inbound.parse import parse_message
from mailtix.inbound.reply_text import authored_words, cut_quoted_mail
from mailtix.lifecycle import spam
from mailtix.lifecycle import status as lifecycle
from mailtix.lifecycle.changes import add_tag, change, opened, record, touch
from mailtix.outbound.mailer import Letter, last_customer_message_id
from mailtix.store.customers import seen
from mailtix.store.lookups import sent_mail
from mailtix.store.models import Message, Participant, Ticket
from mailtix.store.tickets import (
    MAX_THREAD_IDS,
    UNVERIFIED,
    add_participant,
    create_ticket,
    get_ticket,
    store_attachments,
    store_incoming,
    surviving,
    visible_thread_ids,
)


class AgentDesk(WorkflowCommands, Desk):
    def directory(self) -> Directory:
        return Directory(
            departments=[d.name for d in self.config.departments],
            agents=[a.email for a in self.config.agents],
            prefix=self.config.tickets.prefix,
            replies=self.mailer.renderer.reply_names(),
        )

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

    def _apply(self, item: Incoming, agent: str, ticket: Ticket, how: str) -> DeskResult:
        block = agent_commands.parse_commands(item.mail.text, agent, self.directory())
        errors = block.errors or tuple(self.problems(ticket, block, agent, item))
        if errors:
            return self._reject(item, agent, ticket, errors)
        markers = self._sent_markers(item.mail, ticket)
        reply = authored_words(cut_quoted_mail(block.body, markers))
        reply = "\n\n".join(t for t in (reply, self.canned_text(ticket, block, agent, item)) if t)
        blocked = self.config.attachments.blocked
        attachments, refused = relayable_attachments(
            item.mail.attachments, self.mailer.domain, blocked
        )
        if not block.internal and (reply or attachments):
            found = leaks(reply, agent, markers)
            if found:
                why = "not relayed: the answer would show the customer " + " and ".join(found)
                return self._reject(item, agent, ticket, (why,))
        ticket, commands = self.merge_first(ticket, block, agent, item)
        self.run_commands(ticket, commands, agent, item)
        if block.internal:
            notes = [c.argument for c in block.commands if c.name == "note" and c.argument]
            text = "\n\n".join([*notes, reply]).strip()
            self._keep(item, ticket, agent, f"note by {agent} ({how})", text)
            record(ticket, EventType.NOTE, text[:200], item.now, actor=agent)
            detail = "internal note"
        elif (reply or attachments) and ticket.customer != agent:
            relayed = self._relay(item, agent, ticket, reply, how, attachments)
            detail = f"agent reply relayed ({how})" if relayed else "agent reply held back"
        elif reply or attachments:  # a held ticket still in her own name: nobody to answer
            self._keep(item, ticket, agent, f"note by {agent} ({how})", reply)
            detail = "kept: the ticket is in your own name (#customer ADDRESS hands it over)"
        else:
            self._keep(item, ticket, agent, f"commands by {agent} ({how})", "(commands only)")
            detail = f"{len(block.commands)} command(s) applied ({how})"
        for why in refused:
            detail = f"attachment not relayed: {why}"
            record(ticket, EventType.WITHHELD, detail, item.now, actor=agent)
        touch(ticket, item.now)
        return DeskResult("followup", ticket, detail)

    def _sent_markers(self, mail: ParsedMail, ticket: Ticket) -> tuple[str, ...]:
        """The own lines of the notification this mail answers (found in the outbox by its
        token), else those of the shipped notification template."""
        tokens = [i for i in header_ids(mail) if token_ticket(i) == ticket.id]
        sent = sent_mail(ticket.id, tokens[:MAX_THREAD_IDS])
        text = parse_message(sent).text if sent is not None else ""
        return notification_markers(text) + TEMPLATE_MARKERS

    def _keep(self, item: Incoming, ticket: Ticket, agent: str, why: str, text: str) -> None:
        store_incoming(
            ticket, item.mail, item.raw, item.sha, kind=MessageKind.NOTE, automation="human",
            thread_reason=why, now=item.now, text=text,
        )  # fmt: skip

    def _reject(
        self, item: Incoming, agent: str, ticket: Ticket, errors: tuple[str, ...]
    ) -> DeskResult:
        self._keep(item, ticket, agent, f"commands rejected for {agent}", item.mail.text)
        record(ticket, EventType.REJECTED, "; ".join(errors), item.now, actor=agent)
        letter = Letter(
            template="command_error",
            to=(Address(agent, self.config.agent_name(agent)),),
            extra={
                "agent": {"email": agent, "name": self.config.agent_name(agent)},
                "errors": list(errors),
                "event": {"kind": "rejected", "title": "Not applied", "detail": ""},
            },
            automatic=False,
        )
        self.mailer.queue(letter, ticket, item.mailbox, item.now)
        return DeskResult("followup", ticket, "not applied: " + "; ".join(errors))

    def _relay(
        self, item: Incoming, agent: str, ticket: Ticket, text: str, how: str,
        attachments: tuple[Attachment, ...],
    ) -> bool:  # fmt: skip
        """Relay the answer to the customer and the Cc'd participants; False when a mail budget
        held it back (then it is kept as a note and the agent alone is told)."""
        name = self.config.agent_name(agent) or agent.partition("@")[0]
        sender_name = self.config.agents_policy.relay_name.format(
            agent=name, mailbox=item.mailbox.display_name
        )
        copies = tuple(Address(p.email, p.name) for p in _participants(ticket, "cc"))
        references = tuple(visible_thread_ids(ticket))
        letter = Letter(
            template="relay",
            to=(Address(ticket.customer, ticket.customer_name),),
            cc=copies,
            extra={"agent": {"email": agent, "name": name}, "message": {"text": text}},
            in_reply_to=last_customer_message_id(ticket),
            references=references,
            automatic=False,
            auto_submitted=None,
            sender_name=sender_name,
            attachments=attachments,
            record_kind=MessageKind.AGENT,
            record_from=agent,
        )
        queued = self.mailer.queue(letter, ticket, item.mailbox, item.now)
        if queued is None:
            self._held_relay(item, agent, ticket, text)
            return False
        self._complete_record(queued.message_id, item, text, how, attachments)
        if ticket.status == Status.NEW:
            why = f"first answer by {agent}"
            lifecycle.change_status(
                self.mailer, ticket, Status.OPEN, item.now, why=why, actor=agent
            )
        if not ticket.assignee:
            self._assign(ticket, agent, agent, item)
        to = ", ".join([ticket.customer, *(a.email for a in copies)])
        detail = f"{agent} answered ({how}); sent to {to}"
        record(ticket, EventType.REPLIED, detail, item.now, actor=agent)
        return True

    def _held_relay(self, item: Incoming, agent: str, ticket: Ticket, text: str) -> None:
        """A budget held the relay back (a loop, a flood): keep the answer, tell the agent."""
        why = "not relayed: this ticket has had as much mail to the customer as one hour allows"
        self._keep(item, ticket, agent, f"answer by {agent} held back", text)
        letter = Letter(
            template="command_error",
            to=(Address(agent, self.config.agent_name(agent)),),
            extra={
                "agent": {"email": agent, "name": self.config.agent_name(agent)},
                "errors": [why, "send it again later; it is kept on the ticket as a note"],
                "event": {"kind": "held", "title": "Not relayed", "detail": ""},
            },
            automatic=False,
        )
        self.mailer.queue(letter, ticket, item.mailbox, item.now)

    def _complete_record(
        self, message_id: str, item: Incoming, text: str, how: str,
        attachments: tuple[Attachment, ...],
    ) -> None:  # fmt: skip
        """Keep the agent's own words and raw mail on the relayed message's record."""
        record = Message.get_or_none(Message.message_id == message_id)
        if record is None:
            return
        record.text, record.rfc822, record.raw_sha256 = text, item.raw, item.sha
        record.thread_reason = f"verified by {how}"
        record.save()
        store_attachments(record, attachments)

    def run_commands(
        self, ticket: Ticket, commands: tuple[Command, ...], agent: str, item: Incoming
    ) -> None:
        for command in commands:
            handler = getattr(self, f"_cmd_{command.name}", None)
            if handler is not None:
                handler(ticket, command.argument, agent, item)

    def _cmd_status(self, ticket: Ticket, value: str, agent: str, item: Incoming) -> None:
        why = f"#status by {agent}"
        lifecycle.change_status(self.mailer, ticket, value, item.now, why=why, actor=agent)

    def _cmd_assign(self, ticket: Ticket, value: str, agent: str, item: Incoming) -> None:
        self._assign(ticket, value, agent, item)

    def _cmd_spam(self, ticket: Ticket, value: str, agent: str, item: Incoming) -> None:
        spam.mark_spam(self.config, ticket, item.now, agent)

    def _cmd_notspam(self, ticket: Ticket, value: str, agent: str, item: Incoming) -> None:
        spam.unmark_spam(self.config, ticket, item.now, agent)

    def _assign(self, ticket: Ticket, value: str, agent: str, item: Incoming) -> None:
        if not self._change(ticket, Field.ASSIGNEE, value, agent, item):
            return
        if value != agent:
            detail = f"{agent} assigned this ticket to you."
            self.notifier.notify(
                ticket, item.mailbox, "assigned", item.now, to=[value], detail=detail
            )

    def _change(self, ticket: Ticket, field: Field, value: str, agent: str, item: Incoming) -> bool:
        return change(ticket, field, value, item.now, sla=self.config.sla, actor=agent)

    def _cmd_priority(self, ticket: Ticket, value: str, agent: str, item: Incoming) -> None:
        self._change(ticket, Field.PRIORITY, value, agent, item)

    def _cmd_department(self, ticket: Ticket, value: str, agent: str, item: Incoming) -> None:
        old = ticket.department
        if not self._change(ticket, Field.DEPARTMENT, value, agent, item):
            return
        detail = f"{agent} transferred this ticket from {old} to {value}."
        self.notifier.notify(
            ticket, item.mailbox, "transfer", item.now, detail=detail, exclude=agent,
            to=self.notifier.department_agents(value),
        )  # fmt: skip

    def _cmd_tag(self, ticket: Ticket, value: str, agent: str, item: Incoming) -> None:
        add_tag(ticket, value, item.now, actor=agent)

    def _cmd_participant(self, ticket: Ticket, value: str, agent: str, item: Incoming) -> None:
        action, _, email = value.partition(" ")
        if action == "add":
            if add_participant(ticket, email, "", "cc", item.now):
                record(ticket, EventType.PARTICIPANT, f"added {email}", item.now, actor=agent)
            return
        removed = (
            Participant.delete()
            .where((Participant.ticket == ticket) & (Participant.email == email))
            .execute()
        )
        if removed:
            record(ticket, EventType.PARTICIPANT, f"removed {email}", item.now, actor=agent)

    def _cmd_customer(self, ticket: Ticket, value: str, agent: str, item: Incoming) -> None:
        if ticket.customer == value:
            return
        ticket.customer_name = ""
        ticket.organisation = known_customer(self.config, value).membership.name  # theirs now
        self._change(ticket, Field.CUSTOMER, value, agent, item)
        add_participant(ticket, value, "", "customer", item.now)
        seen([(value, "")], item.now)

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


def _participants(ticket: Ticket, role: str) -> list[Participant]:
    return list(
        Participant.select()
        .where((Participant.ticket == ticket) & (Participant.role == role))
        .order_by(Participant.id)
    )
