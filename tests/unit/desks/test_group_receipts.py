"""A poll group's receipts: its earlier ones read together, its own written together at its
end, and those of a message rolled back never written."""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from support.config import small_config

from mailtix.desks.cpu_budget import OverBudget
from mailtix.desks.outcome import Outcome, Source
from mailtix.desks.pipeline import Pipeline
from mailtix.domain.values import ParsedMail
from mailtix.runtime.app import App
from mailtix.store.models import Message, OutboxItem, Receipt, Ticket

NOW = datetime(2026, 12, 3, 9, 0, 0)


def mail(subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carol <carol@example.org>"
    msg["To"] = "support@acme.example"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{hashlib.sha256(subject.encode()).hexdigest()[:16]}@example.org>"
    msg.set_content("The printer jams.\n")
    return msg.as_bytes()


@pytest.fixture
def app(tmp_path: Path) -> App:
    return App.open(small_config(tmp_path, templates=True), clock=lambda: NOW)


def receipt(uid: int, raw: bytes, outcome: str = "ticket") -> None:
    Receipt.create(
        mailbox="support", uidvalidity=7, uid=uid, sha256=hashlib.sha256(raw).hexdigest(),
        outcome=outcome, created_at=NOW,
    )  # fmt: skip


def test_a_group_reads_its_earlier_receipts_at_once_and_writes_its_own_at_once(
    app: App,
) -> None:
    raws = [mail(f"Group {n}") for n in range(5)]
    receipt(99, raws[2])  # the same bytes under another UID (a store older than its attempts)
    receipt(4, mail("another mail"))  # UID 4 was received before, as other bytes
    batch = [(raw, Source("support", 7, uid)) for uid, raw in enumerate(raws, start=1)]
    statements: list[str] = []
    app.db.connection().set_trace_callback(statements.append)
    try:
        groups = [[o.kind for o in g] for g in app.pipeline.process_batch("support", batch)]
    finally:
        app.db.connection().set_trace_callback(None)

    assert groups == [["ticket", "ticket", "duplicate", "duplicate", "ticket"]]
    reads = [sql for sql in statements if "FROM receipt" in sql]
    writes = [sql for sql in statements if sql.startswith('INSERT INTO "receipt"')]
    assert len(reads) == 2 and len(writes) == 1, (reads, writes)
    uids = [r.uid for r in Receipt.select().order_by(Receipt.id)]
    assert uids == [99, 4, 1, 2, 3, 5]  # UID 4 keeps its one receipt; the others in order
    assert Receipt.get(Receipt.uid == 3).outcome == "duplicate"
    assert Ticket.select().count() == 3


def slow_after_writing(monkeypatch: pytest.MonkeyPatch, subject: str) -> list[str]:
    """The mail of ``subject`` goes over its CPU budget each time it is handled, after its
    ticket and rows were written; the list it returns gets the subject at each such time."""
    apply = Pipeline._apply
    handled: list[str] = []

    def _apply(self: Pipeline, mail: ParsedMail, *args: Any) -> Outcome:
        outcome = apply(self, mail, *args)
        if mail.subject == subject:
            handled.append(subject)
            raise OverBudget("simulated: too slow")
        return outcome

    monkeypatch.setattr(Pipeline, "_apply", _apply)
    return handled


def test_a_message_failing_after_it_wrote_has_its_group_handled_again_alone(
    app: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Over its CPU budget after it was handled: its rows cannot be undone alone, so the group
    is rolled back and its messages handled one at a time; only its quarantine receipt stays."""
    handled = slow_after_writing(monkeypatch, "Slow 1")
    raws = [mail(f"Slow {n}") for n in range(3)]
    batch = [(raw, Source("support", 7, uid)) for uid, raw in enumerate(raws, start=1)]
    groups = [[o.kind for o in g] for g in app.pipeline.process_batch("support", batch)]

    assert groups == [["ticket"], ["quarantined"], ["ticket"]]
    assert handled == ["Slow 1", "Slow 1"]  # in the group, then alone: never a third time
    assert "handling the group's 3 messages one at a time" in caplog.text
    assert {r.uid: r.outcome for r in Receipt.select()} == {
        1: "ticket", 2: "quarantined", 3: "ticket",
    }  # fmt: skip
    assert Receipt.select().count() == 3 and Ticket.select().count() == 2
    assert Message.select().count() == 4  # two mails, two acknowledgements: none of Slow 1
    assert OutboxItem.select().count() == 2


def test_a_message_failing_before_it_wrote_stays_in_its_group(app: App) -> None:
    """No sender: refused before any row was written, so the group goes on and commits once."""
    raws = [mail(f"Group {n}") for n in range(3)]
    raws[1] = raws[1].replace(b"From: Carol <carol@example.org>\n", b"")
    batch = [(raw, Source("support", 7, uid)) for uid, raw in enumerate(raws, start=1)]
    groups = [[o.kind for o in g] for g in app.pipeline.process_batch("support", batch)]

    assert groups == [["ticket", "quarantined", "ticket"]]
    assert Ticket.select().count() == 2
