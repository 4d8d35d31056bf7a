"""The same store and pipeline code on PostgreSQL (the server on 127.0.0.1:5432, see conftest).

Every test starts and ends with an empty database (all mailtix tables dropped), so the tests
do not depend on each other or on their order.
"""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.config import small_config

from mailtix.desks.outcome import Source
from mailtix.outbound import outbox
from mailtix.runtime.app import App
from mailtix.store import open_store
from mailtix.store.db import is_postgres
from mailtix.store.migrations import CURRENT_VERSION, schema_version
from mailtix.store.models import (
    ALL_MODELS,
    Event,
    Message,
    OutboxItem,
    QuarantineItem,
    Receipt,
    SchemaVersion,
    Ticket,
)
from mailtix.store.tickets import visible_thread_ids

pytestmark = pytest.mark.postgres

SUPPORT = "support@acme.example"


def drop_all(url: str) -> None:
    db = open_store(url, upgrade=False)
    try:
        db.drop_tables([*ALL_MODELS, SchemaVersion], safe=True, cascade=True)
    finally:
        db.close()


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    drop_all(postgres_url)
    yield postgres_url
    drop_all(postgres_url)


@pytest.fixture
def config_path(tmp_path: Path, pg_url: str) -> Path:
    return small_config(tmp_path, address=SUPPORT, store=f'url = "{pg_url}"', templates=True)


def mail(subject: str, message_id: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carol <carol@example.org>"
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Hello from PostgreSQL.\n")
    return msg.as_bytes()


def test_open_store_creates_the_schema(pg_url: str) -> None:
    db = open_store(pg_url)
    try:
        assert is_postgres(db)
        tables = set(db.get_tables())
        assert {m._meta.table_name for m in (*ALL_MODELS, SchemaVersion)} <= tables
        assert schema_version(db) == CURRENT_VERSION
    finally:
        db.close()
    db = open_store(pg_url)  # reopening is a no-op
    try:
        assert SchemaVersion.select().count() == 1
    finally:
        db.close()


def test_pipeline_on_postgres(config_path: Path, tmp_path: Path) -> None:
    app = App.open(config_path)
    try:
        first = mail("Printer broken", "<pg-1@example.org>")
        assert app.pipeline.process(first, Source("support", 1, 1)).kind == "ticket"
        ack_id = OutboxItem.get().message_id
        reply = mail("Re: Printer broken", "<pg-2@example.org>", In_Reply_To=ack_id)
        followup = app.pipeline.process(reply, Source("support", 1, 2))
        assert followup.kind == "followup"
        assert followup.ticket_ref == "SUP-1"
        thread = visible_thread_ids(Ticket.get())  # plain SQL (store.lookups) on PostgreSQL
        assert thread == ["<pg-1@example.org>", ack_id, "<pg-2@example.org>"]
        again = app.pipeline.process(first, Source("support", 2, 1))  # new UIDVALIDITY
        assert again.kind == "duplicate"

        assert Ticket.select().count() == 1
        assert Message.select().where(Message.direction == "in").count() == 2
        assert [r.outcome for r in Receipt.select().order_by(Receipt.id)] == [
            "ticket",
            "followup",
            "duplicate",
        ]
        assert bytes(Message.get(Message.message_id == "<pg-1@example.org>").rfc822) == first

        assert outbox.drain(app.config.smtp, app.clock)["sent"] == 1
        box = mailbox.Maildir(tmp_path / "outgoing", factory=None, create=False)
        (key,) = box.keys()
        sent = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        assert sent["Auto-Submitted"] == "auto-replied"
        assert sent["In-Reply-To"] == "<pg-1@example.org>"
        assert OutboxItem.get().status == "sent"
        tagged = mail("Re: [SUP-1] Printer broken", "<pg-3@example.org>")  # by its tag alone
        by_tag = app.pipeline.process(tagged, Source("support", 2, 2))
        assert (by_tag.kind, by_tag.ticket_ref) == ("followup", "SUP-1")
    finally:
        app.db.close()


def test_internal_error_rolls_back_and_quarantines_on_postgres(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL aborts a transaction after an error; the quarantine must still be written."""
    app = App.open(config_path)
    try:

        def broken(*args: object, **kwargs: object) -> object:
            raise RuntimeError("simulated bug")

        monkeypatch.setattr("mailtix.desks.pipeline.routing.route", broken)
        raw = mail("Hits the bug", "<pg-bug@example.org>")
        app.pipeline.max_attempts = 1  # quarantine at the first failure
        outcome = app.pipeline.process(raw, Source("support", 1, 1))
        assert outcome.kind == "quarantined"
        assert outcome.detail.startswith("internal error")
        assert bytes(QuarantineItem.get().rfc822) == raw
        assert Ticket.select().count() == 0
        monkeypatch.undo()

        nxt = app.pipeline.process(mail("Fine", "<pg-ok@example.org>"), Source("support", 1, 2))
        assert nxt.kind == "ticket"
        assert Event.select().where(Event.type == "created").count() == 1
    finally:
        app.db.close()


def test_cli_tickets_show_json_on_postgres(config_path: Path) -> None:
    app = App.open(config_path)
    try:
        app.pipeline.process(mail("Printer broken", "<pg-cli@example.org>"), Source("support"))
    finally:
        app.db.close()
    proc = subprocess.run(
        [sys.executable, "-m", "mailtix", "--config", str(config_path)]
        + ["tickets", "show", "SUP-1", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["ref"] == "SUP-1"
    assert data["subject"] == "Printer broken"
    assert data["customer"] == "carol@example.org"
    assert [m["direction"] for m in data["messages"]] == ["in", "out"]
    assert data["messages"][0]["message_id"] == "<pg-cli@example.org>"
    assert data["events"][0]["type"] == "created"


def test_advisory_lock_admits_one_poller_per_mailbox(postgres_url: str) -> None:
    """Two connections (threads) of one store: the second cannot take the mailbox lock."""
    import threading

    from mailtix.store import open_store
    from mailtix.store.locks import mailbox_lock

    db = open_store(postgres_url)
    seen: list[bool] = []
    with mailbox_lock("support") as mine:
        assert mine

        def other_worker() -> None:
            with mailbox_lock("support") as theirs:
                seen.append(theirs)
            db.close()

        thread = threading.Thread(target=other_worker)
        thread.start()
        thread.join(10)
    assert seen == [False]
