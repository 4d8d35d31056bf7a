"""The timed jobs on a throwaway SQLite store with a Maildir SMTP sink and an injectable clock:
escalation once and never twice, the approaching-breach warning once, a reminder once,
pending → resolved after N days (customer told), resolved → closed, idempotent when run twice
at the same time, and the desk hooks (first response, reopen, long-closed → new linked ticket).
"""

from __future__ import annotations

import email
import email.policy
import itertools
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.config import small_config

from mailtix.desks.outcome import Outcome, Source
from mailtix.lifecycle.jobs import parse_at, run_jobs
from mailtix.runtime.app import App
from mailtix.store.models import Event, OutboxItem, Ticket

SUPPORT = "support@acme.example"
ALICE = "alice@acme.example"
LEAD = "lead@acme.example"
START = datetime(2026, 11, 23, 10, 0, 0)  # a Monday, naive UTC

LIFECYCLE = f"""\
[agents]
secret = "0123456789abcdef0123"

[lifecycle]
pending_reminder_days = 2
pending_autoresolve_days = 5
resolved_autoclose_days = 3
reopen_closed_days = 30

[sla]
business_hours = "always"
warn_before = "30m"
lead = "{LEAD}"

[sla.first_response]
normal = "1h"

[sla.resolution]
normal = "1d"

[survey]
enabled = true
"""

_ids = itertools.count(1)
_uids = itertools.count(1)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_app(tmp_path: Path, clock: Clock) -> App:
    """An App on a fresh SQLite store in ``tmp_path``, mail out into a Maildir."""
    config = small_config(
        tmp_path, address=SUPPORT, mailbox='display_name = "ACME Support"', templates=True,
        departments=f'[[department]]\nname = "general"\nagents = ["{ALICE}"]\n', extra=LIFECYCLE,
    )  # fmt: skip
    return App.open(config, clock=clock)


@pytest.fixture
def app(tmp_path: Path, clock: Clock) -> App:
    return make_app(tmp_path, clock)


def feed(app: App, msg: EmailMessage) -> Outcome:
    return app.pipeline.process(msg.as_bytes(), Source("support", 1, next(_uids)))


def customer_mail(
    subject: str = "Printer on fire", body: str = "Help!\n", **headers: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Carol <carol@example.org>"
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Message-ID"] = f"<c{next(_ids)}@example.org>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def sent(kind: str, to: str | None = None) -> list[OutboxItem]:
    rows = OutboxItem.select().where(OutboxItem.kind == kind).order_by(OutboxItem.id)
    return [r for r in rows if to is None or to in r.recipients]


def parsed(row: OutboxItem) -> EmailMessage:
    return email.message_from_bytes(bytes(row.rfc822), policy=email.policy.default)  # type: ignore[return-value]


def agent_reply(ticket_id: int, body: str) -> EmailMessage:
    """Alice answers her notification (its Message-ID is her reply token)."""
    note = [r for r in sent("notification", ALICE) if r.ticket_id == ticket_id][-1]
    msg = EmailMessage()
    msg["From"] = f"Alice <{ALICE}>"
    msg["To"] = SUPPORT
    msg["Subject"] = "Re: ticket"
    msg["Message-ID"] = f"<a{next(_ids)}@acme.example>"
    msg["In-Reply-To"] = note.message_id
    msg.set_content(body)
    return msg


def new_ticket(app: App, clock: Clock, **kwargs: str) -> Ticket:
    outcome = feed(app, customer_mail(**kwargs))
    assert outcome.kind == "ticket"
    return Ticket.get(Ticket.id == int(outcome.ticket_ref.split("-")[1]))  # type: ignore[union-attr]


def lines(results: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {r.name: r.line() for r in results}


def test_due_times_are_stored_on_creation_and_priority_change(app: App, clock: Clock) -> None:
    ticket = new_ticket(app, clock)
    assert ticket.first_response_due == START + timedelta(hours=1)
    assert ticket.resolution_due == START + timedelta(hours=24)
    clock.now = START + timedelta(minutes=5)
    feed(app, agent_reply(ticket.id, "#priority low\n"))
    ticket = Ticket.get_by_id(ticket.id)
    assert (ticket.first_response_due, ticket.resolution_due) == (None, None)  # no low targets


def test_escalation_warning_then_breach_each_once(app: App, clock: Clock) -> None:
    ticket = new_ticket(app, clock)
    assert run_jobs(app, START + timedelta(minutes=20))[0].done == []
    warned = run_jobs(app, START + timedelta(minutes=35))
    assert "first response due soon" in lines(warned)["escalation"]
    assert {tuple(r.recipients) for r in sent("escalation")} == {(ALICE,), (LEAD,)}
    assert run_jobs(app, START + timedelta(minutes=35))[0].done == []  # same time: nothing new
    assert run_jobs(app, START + timedelta(minutes=50))[0].done == []  # still the same warning
    breached = run_jobs(app, START + timedelta(hours=1))
    assert "first response breached" in lines(breached)["escalation"]
    for later in (1.5, 2, 5):
        assert run_jobs(app, START + timedelta(hours=later))[0].done == []
    assert len(sent("escalation", ALICE)) == 2 and len(sent("escalation", LEAD)) == 2
    sla_events = Event.select().where((Event.ticket == ticket) & (Event.type == "sla"))
    assert [e.detail.split(" (")[0] for e in sla_events] == [
        "first_response warning",
        "first_response breached",
    ]
    mail = parsed(sent("escalation", ALICE)[-1])
    assert mail["Subject"].startswith(f"[SUP-{ticket.id}] SLA first response breached")
    assert mail["Auto-Submitted"] == "auto-generated"


def test_escalation_to_agent_is_answerable(app: App, clock: Clock) -> None:
    ticket = new_ticket(app, clock)
    run_jobs(app, START + timedelta(hours=2))
    escalation = sent("escalation", ALICE)[0]
    msg = agent_reply(ticket.id, "On it.\n")
    msg.replace_header("In-Reply-To", escalation.message_id)
    clock.now = START + timedelta(hours=2, minutes=1)
    assert feed(app, msg).detail.startswith("agent reply relayed")


def test_first_response_stops_the_first_response_clock(app: App, clock: Clock) -> None:
    ticket = new_ticket(app, clock)
    clock.now = START + timedelta(minutes=10)
    feed(app, agent_reply(ticket.id, "Have you tried turning it off and on again?\n"))
    ticket = Ticket.get_by_id(ticket.id)
    assert ticket.first_response_at == clock.now and ticket.status == "open"
    results = run_jobs(app, START + timedelta(hours=3))
    assert results[0].done == []  # resolution is due after 24 h; first response was in time
    run_jobs(app, START + timedelta(hours=24))
    assert [e.detail.split(" (")[0] for e in Event.select().where(Event.type == "sla")] == [
        "resolution breached"
    ]


def pending_ticket(app: App, clock: Clock) -> Ticket:
    ticket = new_ticket(app, clock)
    clock.now = START + timedelta(minutes=10)
    feed(app, agent_reply(ticket.id, "#status pending\n\nCould you send the error log?\n"))
    ticket = Ticket.get_by_id(ticket.id)
    assert ticket.status == "pending"
    return ticket


def test_reminder_once_then_autoresolve_with_customer_told(app: App, clock: Clock) -> None:
    ticket = pending_ticket(app, clock)
    since = START + timedelta(minutes=10)
    assert run_jobs(app, since + timedelta(days=1))[1].done == []
    assert (
        "reminded carol@example.org" in lines(run_jobs(app, since + timedelta(days=2)))["reminders"]
    )
    assert run_jobs(app, since + timedelta(days=2))[1].done == []
    assert run_jobs(app, since + timedelta(days=4))[1].done == []
    assert len(sent("reminder")) == 1
    assert parsed(sent("reminder")[0])["Subject"].startswith(f"[SUP-{ticket.id}] Waiting")
    results = run_jobs(app, since + timedelta(days=5))
    assert "pending -> resolved" in lines(results)["auto-resolve"]
    ticket = Ticket.get_by_id(ticket.id)
    assert ticket.status == "resolved" and ticket.resolved_at == since + timedelta(days=5)
    status = sent("status")
    assert len(status) == 1 and parsed(status[0])["Subject"].startswith(
        f"[SUP-{ticket.id}] Resolved"
    )
    assert "not heard back" in parsed(status[0]).get_body(("plain",)).get_content()
    assert len(sent("survey")) == 1
    assert run_jobs(app, since + timedelta(days=5))[2].done == []  # idempotent


def test_reply_to_pending_ticket_reopens_it_and_resets_the_wait(app: App, clock: Clock) -> None:
    ticket = pending_ticket(app, clock)
    clock.now = START + timedelta(days=1)
    feed(
        app, customer_mail(subject=f"Re: [SUP-{ticket.id}] Printer on fire", body="Log attached.\n")
    )
    assert Ticket.get_by_id(ticket.id).status == "open"
    run_jobs(app, START + timedelta(days=10))
    assert Ticket.get_by_id(ticket.id).status == "open"
    assert sent("reminder") == [] and sent("status") == []  # open -> not a status mail by default


def test_resolved_closes_after_n_days_and_customer_gets_mails(app: App, clock: Clock) -> None:
    ticket = new_ticket(app, clock)
    clock.now = START + timedelta(minutes=10)
    feed(app, agent_reply(ticket.id, "#status resolved\n\nFixed the printer.\n"))
    assert [parsed(r)["Subject"].split(":")[0] for r in sent("status")] == [
        f"[SUP-{ticket.id}] Resolved"
    ]
    assert run_jobs(app, clock.now + timedelta(days=2))[3].done == []
    results = run_jobs(app, clock.now + timedelta(days=3))
    assert "resolved -> closed" in lines(results)["auto-close"]
    assert run_jobs(app, clock.now + timedelta(days=3))[3].done == []
    ticket = Ticket.get_by_id(ticket.id)
    assert ticket.status == "closed" and ticket.closed_at == clock.now + timedelta(days=3)
    subjects = [parsed(r)["Subject"].split(":")[0] for r in sent("status")]
    assert subjects == [f"[SUP-{ticket.id}] Resolved", f"[SUP-{ticket.id}] Closed"]
    statuses = [
        e.detail for e in Event.select().where((Event.ticket == ticket) & (Event.type == "status"))
    ]
    assert statuses[-1] == "resolved -> closed: resolved for 3 days"


def test_jobs_twice_at_the_same_time_do_nothing_more(app: App, clock: Clock) -> None:
    pending_ticket(app, clock)
    new_ticket(app, clock)
    at = START + timedelta(days=6)
    run_jobs(app, at)
    before = (OutboxItem.select().count(), Event.select().count())
    again = run_jobs(app, at)
    assert all(not r.done and not r.errors for r in again)
    assert (OutboxItem.select().count(), Event.select().count()) == before


def test_reply_to_closed_ticket_reopens_it(app: App, clock: Clock) -> None:
    ticket = new_ticket(app, clock)
    feed(app, agent_reply(ticket.id, "#status closed\n"))
    clock.now = START + timedelta(days=2)
    feed(app, customer_mail(subject=f"Re: [SUP-{ticket.id}] Printer on fire", body="Again!\n"))
    assert Ticket.get_by_id(ticket.id).status == "open"
    assert parsed(sent("status")[-1])["Subject"].startswith(f"[SUP-{ticket.id}] Reopened")


def test_reply_to_long_closed_ticket_opens_a_linked_one(app: App, clock: Clock) -> None:
    ticket = new_ticket(app, clock)
    feed(app, agent_reply(ticket.id, "#status closed\n"))
    clock.now = START + timedelta(days=31)
    outcome = feed(
        app, customer_mail(subject=f"Re: [SUP-{ticket.id}] Printer on fire", body="Again!\n")
    )
    assert outcome.kind == "ticket" and outcome.ticket_ref != f"SUP-{ticket.id}"
    new = Ticket.get(Ticket.id == int(outcome.ticket_ref.split("-")[1]))  # type: ignore[union-attr]
    assert new.linked_ticket == ticket.id and new.status == "new"
    assert Ticket.get_by_id(ticket.id).status == "closed"
    assert new.first_response_due == clock.now + timedelta(hours=1)


def test_parse_at() -> None:
    assert parse_at("2026-11-23T10:00:00Z") == datetime(2026, 11, 23, 10, 0)
    assert parse_at("2026-11-23T11:00:00+01:00") == datetime(2026, 11, 23, 10, 0)
    assert parse_at("2026-11-23 10:00") == datetime(2026, 11, 23, 10, 0)
    with pytest.raises(Exception, match="not an ISO 8601 time"):
        parse_at("next tuesday")
