"""A verified agent mail applied to its ticket: commands checked and run, then the answer
relayed to the customer and the Cc'd participants, or kept as an internal note.

Before an answer is relayed, the notification it quotes is cut (``reply_text``), and what would
still give the agent or a token away holds the whole mail back (``relay_guard``): nothing is
changed and the agent alone is told why, as for an invalid command. A budget that holds the
relay back keeps the answer as a note and tells the agent.
"""

from __future__ import annotations

from mailtix.decisions import agent_commands
from mailtix.decisions.agent_auth import token_ticket
from mailtix.decisions.correlate import header_ids
from mailtix.decisions.relay_guard import (
    TEMPLATE_MARKERS,
    leaks,
    notification_markers,
    relayable_attachments,
)
from mailtix.desks.intake import DeskResult, Incoming
from mailtix.desks.ticket_commands import TicketCommands
from mailtix.domain.values import Address, Attachment, ParsedMail
from mailtix.domain.vocabulary import EventType, MessageKind, Status
from mailtix.inbound.parse import parse_message
from mailtix.inbound.reply_text import authored_words, cut_quoted_mail
from mailtix.lifecycle import status as lifecycle
from mailtix.lifecycle.changes import record, touch
from mailtix.outbound.mailer import Letter, last_customer_message_id
from mailtix.store.lookups import sent_mail
from mailtix.store.models import Message, Participant, Ticket
from mailtix.store.tickets import (
    MAX_THREAD_IDS,
    store_attachments,
    store_incoming,
    visible_thread_ids,
)


class AnswerDesk(TicketCommands):
    """A base of ``AgentDesk``: what happens to a mail once it is proven the agent's."""

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


def _participants(ticket: Ticket, role: str) -> list[Participant]:
    return list(
        Participant.select()
        .where((Participant.ticket == ticket) & (Participant.role == role))
        .order_by(Participant.id)
    )
