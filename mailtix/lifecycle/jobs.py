"""The timed jobs: SLA escalation, reminders to customers on pending tickets, pending →
resolved after ``pending_autoresolve_days``, resolved → closed after
``resolved_autoclose_days``, the report digest, and retention (``[privacy]``, in
``lifecycle.retention``).

Each job is ``job(app, now) -> JobResult`` with ``now`` a naive UTC time (the injectable clock):
the daemon runs ``run_jobs`` every minute, ``mailtix jobs run --at TIME`` once. Every job is
idempotent — it acts on state (a status, a due time) and records what it did (a status change,
an ``sla`` or ``reminder`` event), so running it twice at the same time does nothing more.
Each ticket is handled in its own transaction; one failing ticket does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mailtix.decisions.agent_auth import notification_message_id
from mailtix.decisions.correlate import format_ref
from mailtix.domain.errors import UsageError
from mailtix.domain.values import Address
from mailtix.domain.vocabulary import OPEN_STATUSES, EventType, MessageKind, Status
from mailtix.lifecycle import sla
from mailtix.lifecycle import status as lifecycle
from mailtix.lifecycle.changes import MAILTIX, record
from mailtix.outbound.mailer import Letter, last_customer_message_id
from mailtix.store.models import Event, Ticket, database_proxy
from mailtix.store.tickets import visible_thread_ids

log = logging.getLogger(__name__)


@dataclass
class JobResult:
    """What one job did: one line per ticket it acted on, plus errors."""

    name: str
    done: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    note: str = ""

    def line(self) -> str:
        if self.note:
            return self.note
        text = f"{self.name}: " + ("; ".join(self.done) if self.done else "nothing to do")
        return text + "".join(f"; error: {e}" for e in self.errors)


def _each(
    app: Any, result: JobResult, tickets: Any, act: Callable[[Ticket], str | None]
) -> JobResult:
    """Run ``act`` on every ticket in its own transaction; collect what it says it did."""
    prefix = app.config.tickets.prefix
    for ticket in tickets:
        try:
            with database_proxy.atomic():
                said = act(ticket)
        except Exception as exc:  # one broken ticket never stops the job
            log.exception("%s failed on ticket %s", result.name, ticket.id)
            result.errors.append(f"{format_ref(prefix, ticket.id)}: {type(exc).__name__}: {exc}")
            continue
        if said:
            result.done.append(f"{format_ref(prefix, ticket.id)} {said}")
    return result


def escalate(app: Any, now: datetime) -> JobResult:
    """One escalation mail per breached (or, with ``warn_before``, nearly breached) target, to
    the department's agents and the lead; recorded as an ``sla`` event, never repeated."""
    config = app.config
    tickets = (
        Ticket.select()
        .where(
            Ticket.status.in_(OPEN_STATUSES)
            & (Ticket.first_response_due.is_null(False) | Ticket.resolution_due.is_null(False))
        )
        .order_by(Ticket.id)
    )

    def act(ticket: Ticket) -> str | None:
        sent = []
        for alert in sla.alerts(ticket, config.sla, now):
            if _escalated(ticket, alert):
                continue
            recipients = _escalation_recipients(app, ticket)
            for address in recipients:
                _queue_escalation(app, ticket, alert, address, now)
            told = ", ".join(recipients) or "nobody"
            record(ticket, EventType.SLA, f"{alert.key}; escalated to {told}", now,
                   field=alert.target, new=alert.state, reason=alert.due_text)  # fmt: skip
            what = alert.title.removeprefix("SLA ")
            sent.append(f"{what}: escalated to {len(recipients)} recipient(s)")
        return ", ".join(sent) or None

    return _each(app, JobResult("escalation"), tickets, act)


def _escalated(ticket: Ticket, alert: sla.Alert) -> bool:
    """Whether this alert (target, state, due time) was escalated already."""
    return (
        Event.select()
        .where(
            (Event.ticket == ticket) & (Event.type == EventType.SLA)
            & (Event.field == alert.target) & (Event.new_value == alert.state)
            & (Event.reason == alert.due_text)
        )
        .exists()
    )  # fmt: skip


def _escalation_recipients(app: Any, ticket: Ticket) -> list[str]:
    agents = app.pipeline.notifier.department_agents(ticket.department)
    lead = app.config.sla.lead
    return list(dict.fromkeys([*agents, *([lead] if lead else [])]))


def _queue_escalation(
    app: Any, ticket: Ticket, alert: sla.Alert, address: str, now: datetime
) -> None:
    """One escalation mail; an agent's carries a reply token, so answering it works like
    answering a notification."""
    mailer, notifier = app.pipeline.mailer, app.pipeline.notifier
    agent = app.config.agent(address)
    token = (
        notification_message_id(notifier.secret, ticket.id, address, mailer.domain)
        if agent is not None
        else None
    )
    references = tuple(visible_thread_ids(ticket))
    letter = Letter(
        template="escalation",
        to=(Address(address, agent.name if agent else ""),),
        extra={
            "agent": {"email": address, "name": agent.name if agent else ""},
            "sla": {
                "target": sla.LABELS[alert.target],
                "state": alert.state,
                "title": alert.title,
                "due": sla.local_time(alert.due, app.config.sla),
            },
        },
        message_id=token,
        in_reply_to=references[-1] if references else None,
        references=references,
        automatic=False,
        auto_submitted="auto-generated",
    )
    mailer.queue(letter, ticket, lifecycle.mailbox_for(app.config, ticket), now)


def _pending_tickets() -> Any:
    """Pending tickets waiting for the customer (a snoozed one waits for its time instead)."""
    waiting = (Ticket.status == Status.PENDING) & Ticket.snoozed_until.is_null()
    return Ticket.select().where(waiting).order_by(Ticket.id)


def wake_snoozed(app: Any, now: datetime) -> JobResult:
    """Snoozed tickets whose time has come: open again, the assignee (else the department)
    told."""
    due = (Ticket.status == Status.PENDING) & (Ticket.snoozed_until <= now)
    tickets = Ticket.select().where(due).order_by(Ticket.id)

    def act(ticket: Ticket) -> str | None:
        mailer, notifier = app.pipeline.mailer, app.pipeline.notifier
        lifecycle.change_status(mailer, ticket, Status.OPEN, now, why="snooze over",
                                actor=MAILTIX, tell_customer=False, automatic=True)  # fmt: skip
        told = notifier.notify(
            ticket, lifecycle.mailbox_for(app.config, ticket), "snooze", now,
            to=[ticket.assignee] if ticket.assignee else None,
            detail="The snooze of this ticket is over: it is open again.",
        )  # fmt: skip
        return f"snooze over: open, {told} agent(s) told"

    return _each(app, JobResult("snoozes"), tickets, act)


def _waiting_since(ticket: Ticket) -> datetime:
    return lifecycle.pending_since(ticket) or ticket.updated_at


def remind(app: Any, now: datetime) -> JobResult:
    """A reminder to the customer of a ticket pending ``pending_reminder_days`` (once per
    pending spell; none when the ticket is due to be auto-resolved anyway)."""
    rules = app.config.lifecycle
    if rules.pending_reminder_days <= 0:
        return JobResult("reminders", note="reminders: off (pending_reminder_days = 0)")

    def act(ticket: Ticket) -> str | None:
        since = _waiting_since(ticket)
        waited = now - since
        if waited < timedelta(days=rules.pending_reminder_days):
            return None
        resolve_after = rules.pending_autoresolve_days
        if resolve_after and waited >= timedelta(days=resolve_after):
            return None
        if Event.select().where((Event.ticket == ticket) & (Event.type == EventType.REMINDER)
                                & (Event.at >= since)).exists():  # fmt: skip
            return None
        letter = Letter(
            template="reminder",
            to=(Address(ticket.customer, ticket.customer_name),),
            extra={"reminder": {"days_waiting": waited.days, "autoresolve_days": resolve_after}},
            in_reply_to=last_customer_message_id(ticket),
            references=tuple(visible_thread_ids(ticket)),
            record_kind=MessageKind.AUTO,
        )
        app.pipeline.mailer.queue(letter, ticket, lifecycle.mailbox_for(app.config, ticket), now)
        record(ticket, EventType.REMINDER, f"reminder sent to {ticket.customer}", now)
        return f"reminded {ticket.customer}"

    return _each(app, JobResult("reminders"), _pending_tickets(), act)


def autoresolve(app: Any, now: datetime) -> JobResult:
    """Pending with no customer reply for ``pending_autoresolve_days`` → resolved; the customer
    is always told."""
    days = app.config.lifecycle.pending_autoresolve_days
    if days <= 0:
        return JobResult("auto-resolve", note="auto-resolve: off (pending_autoresolve_days = 0)")

    def act(ticket: Ticket) -> str | None:
        if now - _waiting_since(ticket) < timedelta(days=days):
            return None
        why = f"no reply from the customer for {days} days"
        lifecycle.change_status(app.pipeline.mailer, ticket, Status.RESOLVED, now, why=why,
                                actor=MAILTIX, tell_customer=True, automatic=True)  # fmt: skip
        return "pending -> resolved"

    return _each(app, JobResult("auto-resolve"), _pending_tickets(), act)


def autoclose(app: Any, now: datetime) -> JobResult:
    """Resolved for ``resolved_autoclose_days`` → closed (status mail as configured)."""
    days = app.config.lifecycle.resolved_autoclose_days
    if days <= 0:
        return JobResult("auto-close", note="auto-close: off (resolved_autoclose_days = 0)")
    tickets = Ticket.select().where(Ticket.status == Status.RESOLVED).order_by(Ticket.id)

    def act(ticket: Ticket) -> str | None:
        if now - (ticket.resolved_at or ticket.updated_at) < timedelta(days=days):
            return None
        why = f"resolved for {days} days"
        lifecycle.change_status(app.pipeline.mailer, ticket, Status.CLOSED, now, why=why,
                                actor=MAILTIX, automatic=True)  # fmt: skip
        return "resolved -> closed"

    return _each(app, JobResult("auto-close"), tickets, act)


def digest(app: Any, now: datetime) -> JobResult:
    """The ``[report]`` digest when it is due (its own module keeps it to once per time)."""
    from mailtix.lifecycle.digest import run_digest

    return JobResult("digest", note=run_digest(app, now))


def keep_raw(app: Any, now: datetime) -> JobResult:
    """``[privacy] keep_raw_days``: raw bytes and attachments of long-closed tickets go."""
    from mailtix.lifecycle.retention import drop_raw

    return JobResult("keep-raw", note=drop_raw(app, now))


def anonymise(app: Any, now: datetime) -> JobResult:
    """``[privacy] erase_closed_days``: long-closed tickets anonymised."""
    from mailtix.lifecycle.retention import anonymise_closed

    return JobResult("anonymise", note=anonymise_closed(app, now))


def quarantine_retention(app: Any, now: datetime) -> JobResult:
    """``[privacy] quarantine_days``: old quarantined mail deleted (table and folders)."""
    from mailtix.lifecycle.retention import purge_quarantine

    return JobResult("quarantine", note=purge_quarantine(app, now))


JOBS: tuple[Callable[[Any, datetime], JobResult], ...] = (
    escalate,
    remind,
    autoresolve,
    autoclose,
    digest,
    wake_snoozed,
    keep_raw,
    anonymise,
    quarantine_retention,
)


def parse_at(text: str) -> datetime:
    """``--at TIME``: ISO 8601 ("2026-11-23T10:00:00+01:00", "...Z"; no offset = UTC) as naive
    UTC; UsageError when unreadable."""
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f'--at: not an ISO 8601 time: "{text}" (e.g. 2026-11-23T10:00:00Z)'
        ) from None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def run_jobs(app: Any, now: datetime) -> list[JobResult]:
    """Every timed job once, as if the time were ``now`` (naive UTC)."""
    results = []
    for job in JOBS:
        try:
            results.append(job(app, now))
        except Exception as exc:  # e.g. an invalid [report]: the other jobs still run
            log.exception("job %s failed", job.__name__)
            results.append(JobResult(job.__name__, errors=[f"{type(exc).__name__}: {exc}"]))
    return results
