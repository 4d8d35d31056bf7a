"""The one-field agent commands, applied to a ticket: ``#status``, ``#assign``, ``#priority``,
``#department``, ``#tag``, ``#participant``, ``#customer``, ``#spam`` and ``#notspam``.

``run_commands`` calls ``_cmd_NAME`` for each command ``decisions.agent_commands`` parsed and
checked; each change goes through ``lifecycle.changes`` (an event with who and why), and an
assignment or a transfer tells the people it concerns.
"""

from __future__ import annotations

from mailtix.decisions.agent_commands import Command, Directory
from mailtix.desks.agent_workflow import WorkflowCommands
from mailtix.desks.customer import known_customer
from mailtix.desks.intake import Desk, Incoming
from mailtix.domain.vocabulary import EventType, Field
from mailtix.lifecycle import spam
from mailtix.lifecycle import status as lifecycle
from mailtix.lifecycle.changes import add_tag, change, record
from mailtix.store.customers import seen
from mailtix.store.models import Participant, Ticket
from mailtix.store.tickets import add_participant


class TicketCommands(WorkflowCommands, Desk):
    """A base of ``AgentDesk``: these commands; ``WorkflowCommands`` has the wider ones."""

    def directory(self) -> Directory:
        return Directory(
            departments=[d.name for d in self.config.departments],
            agents=[a.email for a in self.config.agents],
            prefix=self.config.tickets.prefix,
            replies=self.mailer.renderer.reply_names(),
        )

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
