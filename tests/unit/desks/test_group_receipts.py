"""A poll group's receipts: its earlier ones read together, its own written together at its
end, and those of a message whose savepoint rolls back never written."""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.config import small_config

import mailtix.desks.pipeline
from mailtix.desks.cpu_budget import CpuBudget, OverBudget
from mailtix.desks.pipeline import Source
from mailtix.runtime.app import App
from mailtix.store.models import Receipt, Ticket

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


def test_a_message_rolled_back_in_a_group_leaves_only_its_quarantine_receipt(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over its CPU budget after it was handled: its ticket and receipt were in its savepoint."""
    checks = {"handling": 0}

    class SecondOverBudget(CpuBudget):
        def check(self, step: str) -> None:
            if step == "handling":
                checks["handling"] += 1
                if checks["handling"] == 2:
                    raise OverBudget("simulated: too slow")

    monkeypatch.setattr(mailtix.desks.pipeline, "CpuBudget", SecondOverBudget)
    raws = [mail(f"Slow {n}") for n in range(3)]
    batch = [(raw, Source("support", 7, uid)) for uid, raw in enumerate(raws, start=1)]
    outcomes = [o for g in app.pipeline.process_batch("support", batch) for o in g]

    assert [o.kind for o in outcomes] == ["ticket", "quarantined", "ticket"]
    assert {r.uid: r.outcome for r in Receipt.select()} == {
        1: "ticket", 2: "quarantined", 3: "ticket",
    }  # fmt: skip
    assert Receipt.select().count() == 3 and Ticket.select().count() == 2
