"""The agent commands that reach beyond one field: ``#merge``, ``#snooze``, ``#reply`` (canned
responses), ``#find`` and ``#history`` (answered to the agent alone).

``problems`` checks, before anything is changed, what the parser cannot know (the target of a
merge, a snooze time against the clock, whether a canned reply renders); one problem makes the
whole mail a command error, as an invalid command does. ``merge_first`` runs a ``#merge``
before the other commands, which then act on the surviving ticket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailtix.decisions.agent_auth import notification_message_id
from mailtix.decisions.agent_commands import Command, CommandBlock
from mailtix.decisions.correlate import format_ref
from mailtix.decisions.forwarded_notice import forwarded_notification
from mailtix.decisions.snooze import snooze_until
from mailtix.domain.errors import TemplateError
from mailtix.domain.values import Address
from mailtix.domain.vocabulary import EventType, MessageKind, Status
from mailtix.lifecycle import status as lifecycle
from mailtix.lifecycle.changes import record, snooze
from mailtix.lifecycle.merge import merge, merge_problem
from mailtix.outbound.mailer import Letter
from mailtix.store.models import Ticket
from mailtix.store.search_index import matching_tickets
from mailtix.store.tickets import UNVERIFIED, get_ticket, store_incoming, surviving

if TYPE_CHECKING:
    from mailtix.desks.intake import DeskResult, Incoming

MAX_LISTED = 20  # tickets in an answer to #find / #history
#: How often one mail may use a command (bounded work: one mail, a few searches and mails).
MAX_PER_MAIL = {"merge": 1, "snooze": 1, "reply": 3, "find": 3, "history": 1}


class WorkflowCommands:
    """Mixed into ``AgentDesk`` (which provides ``config``, ``mailer`` and ``notifier``)."""

    config: Any
    mailer: Any
    notifier: Any

    def problems(
        self, ticket: Ticket, block: CommandBlock, agent: str, item: Incoming
    ) -> list[str]:
        """What would make a command of ``block`` fail on ``ticket`` now ([] when none)."""
        found: list[str] = []
        prefix = self.config.tickets.prefix
        for name, most in MAX_PER_MAIL.items():
            if sum(c.name == name for c in block.commands) > most:
                found.append(f"#{name}: at most {most} in one mail")
        for command in block.commands:
            if command.name == "merge":
                target = get_ticket(int(command.argument))
                ref = format_ref(prefix, int(command.argument))
                problem = merge_problem(ticket, target, ref, prefix)
            elif command.name == "snooze":
                _, problem = snooze_until(command.argument, item.now, self.config.sla.calendar.zone)
            elif command.name == "reply":
                problem = self.canned(ticket, command.argument, agent, item)[1]
            else:
                continue
            if problem:
                found.append(f"{command.line}: {problem}")
        return found

    def canned(self, ticket: Ticket, name: str, agent: str, item: Incoming) -> tuple[str, str]:
        """(the canned reply ``name`` rendered for ``ticket``, "") or ("", what went wrong)."""
        context = {
            **self.mailer.context(ticket, item.mailbox),
            "agent": {"email": agent, "name": self.config.agent_name(agent)},
        }
        language = self.mailer.customer_language(ticket, item.mailbox)
        try:
            return self.mailer.renderer.render_reply(name, context, language), ""
        except TemplateError as exc:
            return "", f"the canned reply cannot be used: {exc}"

    def canned_text(self, ticket: Ticket, block: CommandBlock, agent: str, item: Incoming) -> str:
        """The canned replies ``block`` asks for, rendered, one after the other."""
        texts = [self.canned(ticket, c.argument, agent, item)[0]
                 for c in block.commands if c.name == "reply"]  # fmt: skip
        return "\n\n".join(t for t in texts if t)

    def merge_first(
        self, ticket: Ticket, block: CommandBlock, agent: str, item: Incoming
    ) -> tuple[Ticket, tuple[Command, ...]]:
        """Run the ``#merge`` of ``block`` (checked by ``problems``); returns the ticket the
        rest acts on and the rest of the commands."""
        rest = tuple(c for c in block.commands if c.name != "merge")
        for command in block.commands:
            if command.name == "merge":
                target = get_ticket(int(command.argument))
                assert target is not None  # problems() said so
                merge(ticket, target, item.now, prefix=self.config.tickets.prefix,
                      sla=self.config.sla, actor=agent)  # fmt: skip
                ticket = target
        return ticket, rest

    def forwarded_hint(self, item: Incoming, agent: str) -> DeskResult | None:
        """A notification of hers forwarded to the desk (``forwarded_notice``): kept as an
        unverified note, nothing applied, and she alone gets a hint instead of the warning."""
        from mailtix.desks.intake import DeskResult

        number = forwarded_notification(self.notifier.secret, item.mail, agent)
        found = get_ticket(number) if number is not None else None
        if found is None:
            return None
        ticket = surviving(found)
        label = f"{UNVERIFIED} forwarded notification in the name of {agent}"
        store_incoming(ticket, item.mail, item.raw, item.sha, kind=MessageKind.NOTE,
                       automation="human", thread_reason=label, now=item.now)  # fmt: skip
        detail = f"{agent} forwarded a notification to the desk: hint sent, nothing applied"
        record(ticket, EventType.UNVERIFIED, detail, item.now)
        name = self.config.agent_name(agent)
        letter = Letter(
            template="forward_hint",
            to=(Address(agent, name),),
            extra={"agent": {"email": agent, "name": name}},
            message_id=notification_message_id(
                self.notifier.secret, ticket.id, agent, self.mailer.domain
            ),
            automatic=False,
            auto_submitted="auto-generated",
        )
        self.mailer.queue(letter, ticket, item.mailbox, item.now)
        return DeskResult("followup", ticket, "forwarded notification: hint to the agent")

    def _cmd_snooze(self, ticket: Ticket, value: str, agent: str, item: Incoming) -> None:
        until, _ = snooze_until(value, item.now, self.config.sla.calendar.zone)
        assert until is not None  # problems() said so
        why = f"#snooze {value} by {agent}"
        lifecycle.change_status(self.mailer, ticket, Status.PENDING, item.now, why=why,
                                actor=agent, tell_customer=False)  # fmt: skip
        snooze(ticket, until, item.now, actor=agent)

    def _cmd_find(self, ticket: Ticket, value: str, agent: str, item: Incoming) -> None:
        ids = matching_tickets(value, MAX_LISTED + 1)
        found = list(Ticket.select().where(Ticket.id.in_(ids)).order_by(Ticket.id.desc()))
        self._answer(ticket, agent, item, "find", value, found)

    def _cmd_history(self, ticket: Ticket, value: str, agent: str, item: Incoming) -> None:
        query = (
            Ticket.select()
            .where((Ticket.customer == ticket.customer) & Ticket.merged_into.is_null())
            .order_by(Ticket.id.desc())
            .limit(MAX_LISTED + 1)
        )
        self._answer(ticket, agent, item, "history", "", list(query))

    def _answer(
        self, ticket: Ticket, agent: str, item: Incoming, kind: str, query: str,
        found: list[Ticket],
    ) -> None:  # fmt: skip
        """The answer to a query, to the agent alone; its Message-ID is her reply token, so a
        reply to it acts on ``ticket`` like a reply to a notification."""
        prefix = self.config.tickets.prefix
        listed = [{"ref": format_ref(prefix, t.id), "status": t.status, "subject": t.subject}
                  for t in found[:MAX_LISTED]]  # fmt: skip
        name = self.config.agent_name(agent)
        letter = Letter(
            template="lookup",
            to=(Address(agent, name),),
            extra={
                "agent": {"email": agent, "name": name},
                "event": {"kind": kind, "title": kind, "detail": ""},
                "lookup": {
                    "kind": kind,
                    "query": query,
                    "tickets": listed,
                    "more": len(found) > MAX_LISTED,
                },
            },  # fmt: skip
            message_id=notification_message_id(
                self.notifier.secret, ticket.id, agent, self.mailer.domain
            ),
            automatic=False,
            auto_submitted="auto-generated",
        )
        self.mailer.queue(letter, ticket, item.mailbox, item.now)
