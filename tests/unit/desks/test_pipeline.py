"""The pipeline end to end on a throwaway SQLite store and Maildir SMTP sink (no servers).

Each test writes a small mailtix.toml into tmp_path, opens an App and feeds raw bytes to
``app.pipeline.process``; assertions are on the returned Outcome and the store rows.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import itertools
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from support.config import small_config

import mailtix.desks.pipeline
from mailtix.desks.outcome import Outcome, Source
from mailtix.runtime.app import App
from mailtix.store.attempts import begin_attempt, begin_first_attempts
from mailtix.store.models import (
    Attachment,
    Event,
    IngestAttempt,
    Message,
    OutboxItem,
    QuarantineItem,
    Receipt,
    Ticket,
)

REPO = Path(__file__).resolve().parents[3]
MAILS = REPO / "tests" / "data" / "mails"
SUPPORT = "support@acme.example"
START = datetime(2026, 11, 23, 10, 0, 0)

EXTRA = """\
[tickets]
prefix = "SUP"

[[mailbox]]
name = "sales"
address = "sales@acme.example"
maildir = "sales-inbox"
department = "general"
"""

DEPARTMENTS = """\
[[department]]
name = "general"
agents = ["alice@acme.example"]

[[department]]
name = "billing"
agents = ["bob@acme.example", "carla@acme.example", "dora@acme.example"]

[[agent]]
email = "dora@acme.example"
name = "Dora Away"
away = true
"""

ROUTING = """\
[[rule]]
name = "Spam is dropped"
when = { subject = "^spam" }
then = { ignore = true }

[[rule]]
name = "Quiet"
when = { subject = "^quiet" }
then = { acknowledge = false }

[[rule]]
name = "Billing round-robin"
when = { subject = "invoice" }
then = { department = "billing", assign = "round-robin" }
"""

_ids = itertools.count(1)


class Clock:
    """An injectable clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def pipeline_config(directory: Path, routing: str = ROUTING) -> Path:
    """Two mailboxes (support, sales), the departments and routing rules above."""
    return small_config(
        directory, address=SUPPORT, templates=True, departments=DEPARTMENTS, routing=routing,
        mailbox='display_name = "ACME Support"\ndepartment = "general"', extra=EXTRA,
    )  # fmt: skip


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(tmp_path: Path, clock: Clock) -> Callable[..., App]:
    def make(routing: str = ROUTING) -> App:
        return App.open(pipeline_config(tmp_path, routing), clock=clock)

    return make


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    return make_app()


def acks():  # type: ignore[no-untyped-def]
    """Outbox rows for acknowledgements (agents' notifications are counted apart)."""
    return OutboxItem.select().where(OutboxItem.kind == "acknowledgement")


def mail(
    sender: str = "Carol <carol@example.org>",
    subject: str = "Printer on floor 3 eats paper",
    body: str = "The printer jams on every second page.\n",
    **headers: str,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = f"ACME Support <{SUPPORT}>"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = f"<m{next(_ids)}@example.org>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def message_id(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return str(parsed["Message-ID"])


class Feeder:
    """Feeds messages with increasing UIDs into the support mailbox."""

    def __init__(self, app: App, uidvalidity: int = 7) -> None:
        self.app = app
        self.uidvalidity = uidvalidity
        self.uids = itertools.count(1)

    def __call__(self, raw: bytes, mailbox: str = "support") -> Outcome:
        return self.app.pipeline.process(raw, Source(mailbox, self.uidvalidity, next(self.uids)))


@pytest.fixture
def feed(app: App) -> Feeder:
    return Feeder(app)


def counts() -> dict[str, int]:
    return {
        "tickets": Ticket.select().count(),
        "messages": Message.select().count(),
        "outbox": OutboxItem.select().count(),
        "receipts": Receipt.select().count(),
        "events": Event.select().count(),
        "quarantine": QuarantineItem.select().count(),
    }


def events(ticket_id: int, type_: str | None = None) -> list[Event]:
    query = Event.select().where(Event.ticket == ticket_id).order_by(Event.id)
    if type_ is not None:
        query = query.where(Event.type == type_)
    return list(query)


def ticket_id(ref: str | None) -> int:
    assert ref is not None and ref.startswith("SUP-")
    return int(ref.partition("-")[2])


def ack_of(tid: int) -> OutboxItem:
    return OutboxItem.get((OutboxItem.ticket == tid) & (OutboxItem.kind == "acknowledgement"))


# --- new tickets, duplicates, threading -----------------------------------------------------


def test_new_ticket_queues_one_acknowledgement(feed: Feeder) -> None:
    raw = mail()
    outcome = feed(raw)
    assert outcome.kind == "ticket"
    assert outcome.ticket_ref == "SUP-1"
    ticket = Ticket.get_by_id(1)
    assert ticket.subject == "Printer on floor 3 eats paper"
    assert ticket.customer == "carol@example.org"
    assert ticket.status == "new"
    assert [e.type for e in events(1)] == ["created"]
    (item,) = acks()
    assert item.kind == "acknowledgement" and item.automatic
    assert item.recipients == ["carol@example.org"]
    ack = email.message_from_bytes(bytes(item.rfc822), policy=email.policy.default)
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == message_id(raw)
    assert "[SUP-1]" in ack["Subject"] and "Printer on floor 3" in ack["Subject"]
    assert ack["Message-ID"].endswith("@acme.example>")
    incoming, outgoing = Message.select().order_by(Message.id)
    assert incoming.direction == "in" and bytes(incoming.rfc822) == raw
    assert outgoing.direction == "out" and outgoing.message_id == item.message_id


@pytest.mark.parametrize(
    ("subject", "cc"), [("Printer broken", ""), ("quiet please", "Dan <dan@example.org>")]
)  # acknowledged or not, someone copied or not
def test_a_new_tickets_notification_threads_as_its_stored_messages(
    feed: Feeder, subject: str, cc: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline passes the new ticket's thread (its mail, its acknowledgement when one is
    queued) and audience (customer, Cc'd people) to the notification rather than reading them
    back: the same as the store's."""
    from peewee import Database

    from mailtix.outbound.notify import answer_audience
    from mailtix.store.tickets import visible_thread_ids

    statements: list[str] = []
    original = Database.execute_sql

    def counted(self: Database, sql: str, *args: object, **kw: object) -> object:
        statements.append(sql)
        return original(self, sql, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Database, "execute_sql", counted)
    raw = mail(subject=subject, **({"Cc": cc} if cc else {}))
    assert feed(raw).kind == "ticket"
    monkeypatch.undo()
    ticket = Ticket.get_by_id(1)
    thread = visible_thread_ids(ticket)
    assert thread == [message_id(raw), *(a.message_id for a in acks())]
    assert len(thread) == (1 if subject.startswith("quiet") else 2)
    audience = answer_audience(ticket)
    assert audience == ["carol@example.org", *(["dan@example.org"] if cc else [])]
    (note,) = OutboxItem.select().where(OutboxItem.kind == "notification")
    sent = email.message_from_bytes(bytes(note.rfc822), policy=email.policy.default)
    assert sent["References"].split() == thread and sent["In-Reply-To"] == thread[-1]
    body = sent.get_body(("plain",))
    assert body is not None and f"Your answer goes to: {', '.join(audience)}" in body.get_content()
    assert not [sql for sql in statements if sql.startswith("SELECT message_id FROM message")]
    assert not [sql for sql in statements if sql.startswith("SELECT email FROM participant")]


def test_mail_is_queued_claimed_by_the_sender_beside_the_mailer(app: App, clock: Clock) -> None:
    """With a sender running beside it (poll --once, the daemon), the mailer queues mail
    already claimed by that sender; without one, for any drain to claim."""
    feed = Feeder(app)
    feed(mail(subject="Nobody sends beside"))
    app.pipeline.mailer.sent_by = lambda: "mailhost:4242"
    feed(mail(sender="Dan <dan@example.org>", subject="A sender runs beside"))
    app.pipeline.mailer.sent_by = None
    first, second = acks().order_by(OutboxItem.id)
    assert (first.status, first.claimed_by, first.claimed_at) == ("pending", "", None)
    assert (second.status, second.claimed_by) == ("sending", "mailhost:4242")
    assert second.claimed_at == clock.now


def test_same_uid_again_is_a_duplicate(app: App) -> None:
    raw = mail()
    assert app.pipeline.process(raw, Source("support", 7, 1)).kind == "ticket"
    before = counts()
    again = app.pipeline.process(raw, Source("support", 7, 1))
    assert again.kind == "duplicate"
    assert again.ticket_ref == "SUP-1"
    assert counts() == before


def test_same_bytes_under_new_uidvalidity_is_a_duplicate(app: App) -> None:
    raw = mail()
    assert app.pipeline.process(raw, Source("support", 7, 1)).kind == "ticket"
    again = app.pipeline.process(raw, Source("support", 8, 1))
    assert again.kind == "duplicate"
    assert again.ticket_ref == "SUP-1"
    assert Ticket.select().count() == 1
    assert acks().count() == 1
    assert Message.select().where(Message.direction == "in").count() == 1


def test_reply_to_the_acknowledgement_joins_by_in_reply_to(feed: Feeder) -> None:
    first = feed(mail())
    ack = ack_of(ticket_id(first.ticket_ref))
    reply = mail(subject="Re: whatever", In_Reply_To=ack.message_id)
    outcome = feed(reply)
    assert outcome.kind == "followup"
    assert outcome.ticket_ref == "SUP-1"
    assert "In-Reply-To" in outcome.detail
    assert Ticket.select().count() == 1
    assert acks().count() == 1  # follow-ups get no acknowledgement by default
    assert [e.type for e in events(1)] == ["created", "message"]


def test_tag_from_a_non_participant_opens_a_new_ticket(feed: Feeder) -> None:
    feed(mail())
    stranger = mail("Eve <eve@elsewhere.example>", subject="Re: [SUP-1] Printer on floor 3")
    outcome = feed(stranger)
    assert outcome.kind == "ticket"
    assert outcome.ticket_ref == "SUP-2"
    new = Ticket.get_by_id(2)
    assert new.subject == "Re: Printer on floor 3"
    assert "SUP-1" not in new.subject
    assert new.customer == "eve@elsewhere.example"
    assert Message.select().where(Message.ticket == 1).count() == 2  # in + ack, nothing more
    ack = email.message_from_bytes(bytes(ack_of(2).rfc822), policy=email.policy.default)
    assert "[SUP-2]" in ack["Subject"] and "SUP-1" not in ack["Subject"]


def test_tag_from_the_customer_joins(feed: Feeder) -> None:
    feed(mail())
    outcome = feed(mail(subject="Re: [SUP-1] Printer"))
    assert outcome.kind == "followup"
    assert outcome.ticket_ref == "SUP-1"


def test_a_tagged_replys_notification_names_the_audience_threading_read(
    feed: Feeder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The participants read to thread a tagged reply give its notification's audience (the
    customer, then the Cc'd people in the order added), with no second look-up."""
    from peewee import Database

    from mailtix.outbound.notify import answer_audience

    feed(mail(Cc="Erin <erin@example.org>, Dan <dan@example.org>"))
    statements: list[str] = []
    original = Database.execute_sql

    def counted(self: Database, sql: str, *args: object, **kw: object) -> object:
        statements.append(sql)
        return original(self, sql, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Database, "execute_sql", counted)
    assert feed(mail(subject="Re: [SUP-1] Printer")).kind == "followup"
    monkeypatch.undo()
    audience = answer_audience(Ticket.get_by_id(1))
    assert audience == ["carol@example.org", "erin@example.org", "dan@example.org"]
    note = OutboxItem.select().where(OutboxItem.kind == "notification").order_by(-OutboxItem.id)
    sent = email.message_from_bytes(bytes(note.get().rfc822), policy=email.policy.default)
    body = sent.get_body(("plain",))
    assert body is not None and f"Your answer goes to: {', '.join(audience)}" in body.get_content()
    assert not [sql for sql in statements if sql.startswith("SELECT email FROM participant")]


def test_reply_to_a_closed_ticket_reopens_it(feed: Feeder) -> None:
    first = feed(mail())
    tid = ticket_id(first.ticket_ref)
    Ticket.update(status="closed", closed_at=START).where(Ticket.id == tid).execute()
    outcome = feed(mail(subject="Re: again", In_Reply_To=ack_of(tid).message_id))
    assert outcome.kind == "followup"
    ticket = Ticket.get_by_id(tid)
    assert ticket.status == "open"
    assert ticket.closed_at is None
    assert len(events(tid, "reopened")) == 1
    assert "closed -> open" in events(tid, "status")[0].detail


# --- automated mail, bounces, loops -----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"List_Id": "<news.vendor.example>"},
    ],
    ids=["auto-submitted", "precedence-bulk", "list-id"],
)
def test_automated_mail_gets_no_acknowledgement(feed: Feeder, headers: dict[str, str]) -> None:
    outcome = feed(mail(**headers))
    assert outcome.kind == "ticket"
    tid = ticket_id(outcome.ticket_ref)
    assert acks().count() == 0
    (no_ack,) = events(tid, "no-ack")
    assert "automated" in no_ack.detail
    assert Message.get(Message.ticket == tid).kind == "auto"


def test_dsn_that_does_not_thread_is_ignored(feed: Feeder) -> None:
    outcome = feed((MAILS / "dsn-bounce.eml").read_bytes())
    assert outcome.kind == "ignored"
    assert "bounce" in outcome.detail
    assert Ticket.select().count() == 0
    assert acks().count() == 0
    (receipt,) = Receipt.select()
    assert receipt.outcome == "ignored"


def test_bounce_for_our_acknowledgement_is_attached(feed: Feeder) -> None:
    first = feed(mail())
    tid = ticket_id(first.ticket_ref)
    Ticket.update(status="open").where(Ticket.id == tid).execute()
    ack_id = ack_of(tid).message_id
    dsn = (MAILS / "dsn-bounce.eml").read_bytes()
    dsn = dsn.replace(
        b"Message-ID: <dsn-1@mx.example.org>\n",
        b"Message-ID: <dsn-1@mx.example.org>\nIn-Reply-To: " + ack_id.encode() + b"\n",
    )
    assert ack_id.encode() in dsn
    outcome = feed(dsn)
    assert outcome.kind == "followup"
    assert outcome.ticket_ref == first.ticket_ref
    assert len(events(tid, "bounce")) == 1
    assert Ticket.get_by_id(tid).status == "open"
    assert events(tid, "status") == []
    assert acks().count() == 1
    bounce = Message.select().where(Message.ticket == tid).order_by(Message.id.desc()).first()
    assert bounce.automation == "bounce" and bounce.kind == "auto"


def test_dsn_returning_our_ack_files_a_bounce_and_stops_automatic_mail(feed: Feeder) -> None:
    first = feed(mail(sender="Nobody <nobody@example.com>"))
    tid = ticket_id(first.ticket_ref)
    ack_id = ack_of(tid).message_id
    dsn = (
        (MAILS / "dsn-bounce.eml")
        .read_bytes()
        .replace(b"<ack-42@helpdesk.example.org>", ack_id.encode())
        .replace(b"mx.example.org", b"mx.acme.example")  # reported by our own MTA
    )
    outcome = feed(dsn)
    assert (outcome.kind, outcome.ticket_ref) == ("followup", first.ticket_ref)
    assert "permanent failure for nobody@example.com" in events(tid, "bounce")[0].detail
    assert len(events(tid, "undeliverable")) == 1
    again = feed(mail(sender="Nobody <nobody@example.com>", subject="Another question"))
    assert again.kind == "ticket"
    assert acks().count() == 1  # no acknowledgement to an undeliverable address
    assert "undeliverable" in events(ticket_id(again.ticket_ref), "suppressed")[0].detail


def test_forged_dsn_naming_an_address_we_never_mailed_suppresses_nothing(feed: Feeder) -> None:
    first = feed(mail())
    ack_id = ack_of(ticket_id(first.ticket_ref)).message_id
    dsn = (
        (MAILS / "dsn-bounce.eml")
        .read_bytes()
        .replace(b"<ack-42@helpdesk.example.org>", ack_id.encode())
    )
    feed(dsn)  # names nobody@example.com, but our ack went to carol@example.org
    from mailtix.store.models import Suppression

    assert Suppression.select().count() == 0


def test_our_own_acknowledgement_fed_back_is_ignored(feed: Feeder) -> None:
    feed(mail())
    ack = bytes(OutboxItem.get().rfc822)
    before = counts()
    outcome = feed(ack)
    assert outcome.kind == "ignored"
    assert "own" in outcome.detail
    after = counts()
    assert after["tickets"] == before["tickets"]
    assert after["outbox"] == before["outbox"]
    assert after["messages"] == before["messages"]


def test_our_own_message_id_is_recognised_even_from_another_sender(feed: Feeder) -> None:
    """A forwarder that rewrote From still carries our Message-ID: still a loop, not a ticket."""
    feed(mail())
    ack = bytes(OutboxItem.get().rfc822)
    forwarded = re.sub(rb"(?m)^From: .*$", b"From: relay@forwarder.example", ack, count=1)
    assert b"relay@forwarder.example" in forwarded
    outcome = feed(forwarded)
    assert outcome.kind == "ignored"
    assert Ticket.select().count() == 1
    assert acks().count() == 1


@pytest.mark.parametrize("sender", [SUPPORT, "sales@acme.example", "SUPPORT@ACME.EXAMPLE"])
def test_mail_from_our_own_mailbox_address_is_ignored(feed: Feeder, sender: str) -> None:
    outcome = feed(mail(f"Loop <{sender}>", subject="Hello"))
    assert outcome.kind == "ignored"
    assert Ticket.select().count() == 0
    assert acks().count() == 0


def test_automatic_mail_to_one_address_is_rate_limited(feed: Feeder, clock: Clock) -> None:
    outcomes = []
    for n in range(6):
        outcomes.append(feed(mail(subject=f"Problem {n}")))
        clock.advance(minutes=5)
    assert [o.kind for o in outcomes] == ["ticket"] * 6
    assert acks().count() == 5
    last = ticket_id(outcomes[-1].ticket_ref)
    (suppressed,) = Event.select().where(Event.type == "suppressed")
    assert suppressed.ticket_id == last
    assert "rate limit" in suppressed.detail
    # an hour after the first acknowledgement, the window has room again
    clock.advance(minutes=35)
    feed(mail(subject="Problem 7"))
    assert acks().count() == 6


# --- routing, assignment ------------------------------------------------------------------------


def test_rule_with_ignore_stores_nothing(feed: Feeder) -> None:
    outcome = feed(mail(subject="SPAM: buy now"))
    assert outcome.kind == "ignored"
    assert "Spam is dropped" in outcome.detail
    assert counts() == {
        "tickets": 0,
        "messages": 0,
        "outbox": 0,
        "receipts": 1,  # the ledger remembers it was seen
        "events": 0,
        "quarantine": 0,
    }


def test_rule_with_acknowledge_false_opens_a_silent_ticket(feed: Feeder) -> None:
    outcome = feed(mail(subject="quiet please"))
    assert outcome.kind == "ticket"
    tid = ticket_id(outcome.ticket_ref)
    assert acks().count() == 0
    (no_ack,) = events(tid, "no-ack")
    assert "acknowledge = false" in no_ack.detail


def test_round_robin_alternates_and_skips_away_agents(feed: Feeder) -> None:
    assignees = []
    for n in range(4):
        outcome = feed(mail(f"c{n}@example.org", subject=f"Invoice {n}"))
        ticket = Ticket.get_by_id(ticket_id(outcome.ticket_ref))
        assert ticket.department == "billing"
        assignees.append(ticket.assignee)
    assert assignees == [
        "bob@acme.example",
        "carla@acme.example",
        "bob@acme.example",
        "carla@acme.example",
    ]
    assert "dora@acme.example" not in assignees
    assert len(Event.select().where(Event.type == "assigned")) == 4


# --- quarantine ----------------------------------------------------------------------------------


def break_routing_for(
    monkeypatch: pytest.MonkeyPatch, subject: str, error: BaseException
) -> Callable[..., Any]:
    """Routing raises ``error`` for mail with this subject (a bug, or the process going
    down); returns the real routing function."""
    real_route = mailtix.desks.pipeline.routing.route

    def route(*args: Any, **kwargs: Any) -> Any:
        if args[0].subject == subject:
            raise error
        return real_route(*args, **kwargs)

    monkeypatch.setattr("mailtix.desks.pipeline.routing.route", route)
    return real_route


def test_a_failing_message_is_retried_then_quarantined_and_the_queue_goes_on(
    feed: Feeder, monkeypatch: pytest.MonkeyPatch
) -> None:
    break_routing_for(monkeypatch, "This one hits the bug", RuntimeError("simulated bug"))
    raw = mail(subject="This one hits the bug")
    first, second = feed(raw), feed(raw)
    assert (first.kind, second.kind) == ("deferred", "deferred")  # left in place, retried
    assert "attempt 1 failed (RuntimeError: simulated bug)" in first.detail
    assert feed(mail(subject="Meanwhile another")).kind == "ticket"  # never blocks the queue
    outcome = feed(raw)  # third attempt: given up
    assert outcome.kind == "quarantined"
    assert outcome.detail.startswith("internal error")
    assert "simulated bug" in outcome.detail
    (item,) = QuarantineItem.select()
    assert bytes(item.rfc822) == raw
    assert item.reason.startswith("internal error")
    assert item.status == "held"
    assert Ticket.select().count() == 1  # the failed transactions left nothing behind
    again = feed(raw)  # the same bytes again: still quarantined, no second quarantine item
    assert again.kind == "quarantined" and QuarantineItem.select().count() == 1


def test_a_message_that_kills_the_process_is_quarantined_without_another_try(
    feed: Feeder,
) -> None:
    raw = mail(subject="Crashes the parser")
    sha = sha_of(raw)
    for _ in range(3):  # three runs that died while processing it (counter committed first)
        begin_attempt("support", sha, datetime(2026, 11, 23))
    outcome = feed(raw)
    assert outcome.kind == "quarantined"
    assert "gave up after 3 attempts" in outcome.detail


def sha_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def attempts_of(raw: bytes) -> int:
    return int(IngestAttempt.get(IngestAttempt.sha256 == sha_of(raw)).attempts)


def handled(app: App, batch: list[tuple[bytes, Source]]) -> list[Outcome]:
    return [outcome for group in app.pipeline.process_batch("support", batch) for outcome in group]


def test_a_batch_counts_first_attempts_together_and_a_crashed_batch_goes_one_by_one(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch commits the first attempt at all its new messages at once; after a crash (the
    batch counted, nothing handled) each is counted alone, so a message that kills the process
    is quarantined after three attempts of its own and the rest of its batch goes through."""
    raws = [mail(subject=f"Batch {n}") for n in range(3)]
    batch = [(raw, Source("support", 7, uid)) for uid, raw in enumerate(raws, start=1)]
    alone: list[str] = []
    real_begin = begin_attempt

    def counted_alone(mailbox: str, sha: str, now: datetime) -> tuple[int, str]:
        alone.append(sha)
        return real_begin(mailbox, sha, now)

    monkeypatch.setattr("mailtix.desks.pipeline.begin_attempt", counted_alone)
    app.pipeline.max_attempts = 3

    # the process "died" handling the first message of this batch, three times: once in the
    # batch (every message counted), then twice alone (only the first one counted)
    assert len(begin_first_attempts("support", [sha_of(r) for r in raws], START)) == 3
    for _ in range(2):
        real_begin("support", sha_of(raws[0]), START)
    outcomes = handled(app, batch)

    assert [o.kind for o in outcomes] == ["quarantined", "ticket", "ticket"]
    assert outcomes[0].detail.startswith("gave up after 3 attempts")
    assert alone == [sha_of(r) for r in raws]  # tried before: each counted on its own
    assert [attempts_of(r) for r in raws] == [4, 2, 2]

    fresh = [mail(subject=f"Fresh {n}") for n in range(3)]
    fresh_batch = [(raw, Source("support", 7, uid)) for uid, raw in enumerate(fresh, start=10)]
    alone.clear()
    assert [o.kind for o in handled(app, fresh_batch)] == ["ticket"] * 3
    assert alone == []  # never tried: one commit counted all three
    assert [attempts_of(r) for r in fresh] == [1, 1, 1]


def test_new_messages_share_a_commit_each_all_or_nothing(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Groups of up to GROUP_SIZE new messages are one commit each; a message that fails in
    the middle of a group before it wrote anything stays in the group and is recorded for a
    retry (one failing after it wrote: test_group_receipts)."""
    monkeypatch.setattr("mailtix.desks.pipeline.GROUP_SIZE", 2)
    break_routing_for(monkeypatch, "Group 1", RuntimeError("simulated bug"))
    raws = [mail(subject=f"Group {n}") for n in range(5)]
    batch = [(raw, Source("support", 7, uid)) for uid, raw in enumerate(raws, start=1)]
    statements: list[str] = []
    app.db.connection().set_trace_callback(statements.append)
    try:
        groups = [[o.kind for o in group] for group in app.pipeline.process_batch("support", batch)]
    finally:
        app.db.connection().set_trace_callback(None)

    assert groups == [["ticket", "deferred"], ["ticket", "ticket"], ["ticket"]]
    commits = [sql for sql in statements if sql == "COMMIT"]
    assert len(commits) == 1 + 3  # the first attempts of all five, then one per group
    assert not any(sql.startswith("SAVEPOINT mailtix_message") for sql in statements)
    assert Ticket.select().count() == 4
    failed = IngestAttempt.get(IngestAttempt.sha256 == sha_of(raws[1]))
    assert (failed.attempts, failed.last_error) == (1, "RuntimeError: simulated bug")
    assert Receipt.select().where(Receipt.sha256 == sha_of(raws[1])).count() == 0  # retried


def test_a_group_that_dies_leaves_nothing_and_its_messages_are_then_handled_alone(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash in the middle of a group (here: an error nothing catches) rolls the whole
    group back; its messages count as tried, so the next batch handles each alone."""
    raws = [mail(subject=f"Doomed {n}") for n in range(3)]
    batch = [(raw, Source("support", 7, uid)) for uid, raw in enumerate(raws, start=1)]
    real_route = break_routing_for(monkeypatch, "Doomed 1", SystemExit("the process goes down"))
    with pytest.raises(SystemExit):
        handled(app, batch)
    assert Ticket.select().count() == 0 and Receipt.select().count() == 0
    assert [attempts_of(r) for r in raws] == [1, 1, 1]

    monkeypatch.setattr("mailtix.desks.pipeline.routing.route", real_route)
    alone = [list(g) for g in app.pipeline.process_batch("support", batch)]
    assert [[o.kind for o in g] for g in alone] == [["ticket"], ["ticket"], ["ticket"]]
    assert [attempts_of(r) for r in raws] == [2, 2, 2]


def test_the_same_bytes_twice_in_one_batch_make_one_ticket(app: App) -> None:
    raw = mail(subject="Sent twice")
    batch = [(raw, Source("support", 7, 1)), (raw, Source("support", 7, 2))]
    assert [o.kind for o in handled(app, batch)] == [
        "ticket",
        "duplicate",
    ]
    assert Ticket.select().count() == 1 and attempts_of(raw) == 1


def test_the_next_message_after_a_quarantined_one_goes_through(feed: Feeder) -> None:
    assert feed(b"not a mail at all").kind == "quarantined"
    nxt = feed(mail(subject="The next one"))
    assert nxt.kind == "ticket"
    assert Ticket.select().count() == 1
    assert acks().count() == 1


@pytest.mark.parametrize("raw", [b"", b"not a mail"], ids=["empty", "garbage"])
def test_unparseable_bytes_are_quarantined(feed: Feeder, raw: bytes) -> None:
    outcome = feed(raw)
    assert outcome.kind == "quarantined"
    assert outcome.detail.startswith("unparseable")
    (item,) = QuarantineItem.select()
    assert bytes(item.rfc822 or b"") == raw
    assert Ticket.select().count() == 0


def test_message_without_a_usable_from_is_quarantined(feed: Feeder) -> None:
    raw = (
        b"To: support@acme.example\r\nSubject: who am I\r\n"
        b"Message-ID: <nofrom@example.org>\r\n\r\nNo sender here.\r\n"
    )
    outcome = feed(raw)
    assert outcome.kind == "quarantined"
    assert "sender" in outcome.detail
    (item,) = QuarantineItem.select()
    assert "sender" in item.reason
    assert bytes(item.rfc822) == raw
    assert Ticket.select().count() == 0


# --- attachments ---------------------------------------------------------------------------------


def test_attachment_names_are_metadata_only(feed: Feeder) -> None:
    outcome = feed((MAILS / "attachment-traversal.eml").read_bytes())
    assert outcome.kind == "ticket"
    rows = list(Attachment.select().order_by(Attachment.id))
    assert len(rows) == 2
    for row in rows:
        assert row.storage_name.startswith("att-")
        assert "/" not in row.storage_name and "\\" not in row.storage_name
        assert ".." not in row.storage_name
        assert "/" not in row.filename and "\\" not in row.filename
    assert "passwd" in rows[0].filename
    assert bytes(rows[0].content) == b"root:x:0:0:root:/root:/bin/bash\n"
    assert rows[0].size == len(bytes(rows[0].content))
    assert len({r.storage_name for r in rows}) == 2


def test_copied_people_become_participants_up_to_a_cap(feed: Feeder) -> None:
    from mailtix.desks.customer import MAX_COPIED
    from mailtix.store.models import Participant

    many = ", ".join(f"p{i}@example.net" for i in range(5000))
    outcome = feed(mail(Cc=many))
    tid = ticket_id(outcome.ticket_ref)
    assert Participant.select().where(Participant.ticket == tid).count() == 1 + MAX_COPIED
    assert "more recipients not added" in events(tid, "participant")[-1].detail
