"""LMTP deliveries waiting together go through the poll's grouped path: per mailbox, their
first attempts in one statement, their receipts read and written together; a delivery to two
mailboxes is in both mailboxes' groups; a message tried before is handled alone; a delivery
whose store write fails gets "try again" (None) or "deferred" while the others get theirs."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from peewee import Database, OperationalError
from support.config import small_config

import mailtix.desks.pipeline as pipeline
from mailtix.runtime.app import App
from mailtix.runtime.lmtp_worker import DeliveryWorker, Results
from mailtix.store.models import Event, QuarantineItem, Receipt, Ticket

SALES = """\
[[mailbox]]
name = "sales"
address = "sales@acme.example"
maildir = "sales-inbox"
"""
FIRST_ATTEMPTS = "DO NOTHING RETURNING sha256"  # begin_first_attempts: never tried before
ANOTHER_ATTEMPT = "DO UPDATE SET attempts"  # begin_attempt: a message tried before
RECEIPT_READS = "FROM receipt"
RECEIPT_WRITES = 'INSERT INTO "receipt"'


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> App:
    monkeypatch.chdir(tmp_path)
    return App.open(small_config(tmp_path, templates=True, extra=SALES))


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement the store runs, from any thread (the worker has its own connection)."""
    seen: list[str] = []
    original = Database.execute_sql

    def counted(self: Database, sql: str, params: Any = None, *args: Any, **kw: Any) -> Any:
        seen.append(sql)
        return original(self, sql, params, *args, **kw)

    monkeypatch.setattr(Database, "execute_sql", counted)
    return seen


def mail(subject: str, sender: str | None = "Carol <carol@customer.example>") -> bytes:
    msg = EmailMessage()
    if sender is not None:
        msg["From"] = sender
    msg["To"] = "support@acme.example"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="customer.example")
    msg.set_content("It smokes.\n")
    return msg.as_bytes()


def deliver_together(
    app: App, deliveries: list[tuple[bytes, list[str]]]
) -> tuple[list[Results], DeliveryWorker]:
    """All of ``deliveries`` waiting when the worker starts: one group."""
    worker = DeliveryWorker(app.pipeline)
    futures = [worker.submit(raw, mailboxes) for raw, mailboxes in deliveries]
    worker.start()
    try:
        return [f.result(timeout=60) for f in futures], worker
    finally:
        worker.stop(timeout=30)


def kinds(results: list[Results]) -> list[dict[str, str | None]]:
    return [{m: (o.kind if o is not None else None) for m, o in r.items()} for r in results]


def count(statements: list[str], part: str) -> int:
    return sum(part in sql for sql in statements)


def test_a_group_costs_the_grouped_statements_per_mailbox(app: App, statements: list[str]) -> None:
    raws = [mail(f"n{i}") for i in range(12)]
    both = {3, 7, 8}  # also to sales: in both mailboxes' groups
    deliveries = [(raw, ["support", "sales"] if i in both else ["support"])
                  for i, raw in enumerate(raws)]  # fmt: skip
    deliveries.append((mail("no sender", sender=None), ["support"]))  # quarantined
    results, worker = deliver_together(app, deliveries)

    expected: list[dict[str, str | None]] = [
        {"support": "ticket", "sales": "duplicate"} if i in both else {"support": "ticket"}
        for i in range(12)
    ]
    assert kinds(results) == [*expected, {"support": "quarantined"}]
    assert worker.groups == 1
    # one statement each per mailbox (support, sales), not one per delivery and mailbox
    assert count(statements, FIRST_ATTEMPTS) == 2
    assert count(statements, ANOTHER_ATTEMPT) == 0
    assert count(statements, RECEIPT_READS) == 2
    # the group's receipts in one statement per mailbox; the quarantine writes its own
    assert count(statements, RECEIPT_WRITES) == 3
    assert Ticket.select().count() == 12
    assert Event.select().where(Event.type == "copy").count() == 3
    by_mailbox = [(r.mailbox, r.outcome) for r in Receipt.select()]
    assert sorted(by_mailbox) == sorted(
        [("support", "ticket")] * 12 + [("sales", "duplicate")] * 3
        + [("support", "quarantined")]
    )  # fmt: skip


def test_a_lone_delivery_is_handled_alone(app: App, statements: list[str]) -> None:
    """One delivery to a mailbox: its own transaction, as before groups (cheaper for one)."""
    results, _ = deliver_together(app, [(mail("alone"), ["support"])])
    assert kinds(results) == [{"support": "ticket"}]
    assert count(statements, FIRST_ATTEMPTS) == 0 and count(statements, ANOTHER_ATTEMPT) == 1
    assert count(statements, "SAVEPOINT") == 0


def test_the_same_mail_twice_in_a_group_is_one_ticket_and_a_duplicate(app: App) -> None:
    raw = mail("twice")
    results, _ = deliver_together(app, [(raw, ["support"]), (raw, ["support"])])
    assert kinds(results) == [{"support": "ticket"}, {"support": "duplicate"}]
    assert Ticket.select().count() == 1


def test_a_delivery_whose_store_write_fails_gets_none_and_the_others_their_outcome(
    app: App, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its quarantine cannot be written: the failure escapes the group's transaction, the
    group is rolled back, and its deliveries are handled alone: only that one is told to try
    again."""

    def disk_full(*args: object, **kwargs: object) -> object:
        raise OperationalError("database or disk is full")

    monkeypatch.setattr(pipeline, "quarantine", disk_full)
    deliveries = [(mail("one"), ["support"]), (mail("doomed", sender=None), ["support"]),
                  (mail("three"), ["support"])]  # fmt: skip
    results, worker = deliver_together(app, deliveries)

    assert kinds(results) == [{"support": "ticket"}, {"support": None}, {"support": "ticket"}]
    assert worker.groups == 1  # answered together, after one synced commit
    assert count(statements, FIRST_ATTEMPTS) == 1
    assert count(statements, ANOTHER_ATTEMPT) == 3  # then alone, each in its own transaction
    assert sorted(t.subject for t in Ticket.select()) == ["one", "three"]
    assert Receipt.select().count() == 2
    assert QuarantineItem.select().count() == 0


def test_a_write_failing_inside_one_message_defers_only_it_and_its_retry_is_alone(
    app: App, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure stays in the message's savepoint: the others are committed in the group;
    that one is "deferred" (451), and the MTA's retry is handled alone."""
    real = pipeline.CustomerDesk.open_ticket

    def fails_for_doomed(self: Any, item: Any, *args: Any) -> Any:
        if item.mail.subject == "doomed":
            raise OperationalError("disk I/O error")
        return real(self, item, *args)

    doomed = mail("doomed")
    with monkeypatch.context() as failing:
        failing.setattr(pipeline.CustomerDesk, "open_ticket", fails_for_doomed)
        deliveries = [(mail("one"), ["support"]), (doomed, ["support"]),
                      (mail("three"), ["support"])]  # fmt: skip
        results, _ = deliver_together(app, deliveries)
    assert kinds(results) == [
        {"support": "ticket"}, {"support": "deferred"}, {"support": "ticket"},
    ]  # fmt: skip
    assert count(statements, FIRST_ATTEMPTS) == 1 and count(statements, ANOTHER_ATTEMPT) == 0

    statements.clear()
    again, _ = deliver_together(app, [(doomed, ["support"]), (mail("four"), ["support"])])
    assert kinds(again) == [{"support": "ticket"}, {"support": "ticket"}]
    assert count(statements, ANOTHER_ATTEMPT) == 1  # the retry, alone
    assert sorted(t.subject for t in Ticket.select()) == ["doomed", "four", "one", "three"]


def test_a_store_that_is_down_tells_every_delivery_to_try_again(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    def store_down(*args: object, **kwargs: object) -> Iterator[object]:
        raise OperationalError("unable to open database file")

    monkeypatch.setattr(pipeline, "begin_first_attempts", store_down)
    monkeypatch.setattr(pipeline, "begin_attempt", store_down)
    deliveries = [(mail("one"), ["support", "sales"]), (mail("two"), ["support"])]
    results, _ = deliver_together(app, deliveries)
    assert kinds(results) == [{"support": None, "sales": None}, {"support": None}]
    assert Ticket.select().count() == 0


def test_a_delivery_to_two_mailboxes_opens_its_ticket_in_its_first_recipients(app: App) -> None:
    """As when each delivery was handled alone: the first recipient's mailbox has the ticket
    (its acknowledgement comes From that address), the other a copy, whatever else waits."""
    other, both = mail("for support"), mail("for sales, copy to support")
    results, _ = deliver_together(app, [(other, ["support"]), (both, ["sales", "support"])])
    assert kinds(results) == [
        {"support": "ticket"},
        {"sales": "ticket", "support": "duplicate"},
    ]
    ticket = Ticket.get(Ticket.subject == "for sales, copy to support")
    assert ticket.mailbox == "sales"
