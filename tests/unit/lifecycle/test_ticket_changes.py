"""Typed ticket changes: one function sets a field, keeps what derives from it and records the
event's columns; the migration fills those columns from older text; reports and the pending
clock read the columns, never the text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from peewee import Database

from mailtix.config.lifecycle import SlaConfig
from mailtix.domain.vocabulary import EventType, Field, Priority, Status
from mailtix.lifecycle import status as lifecycle
from mailtix.lifecycle.changes import add_tag, change, record
from mailtix.report import figures
from mailtix.report.period import Period
from mailtix.report.sql import Dialect
from mailtix.store import open_store
from mailtix.store.backfill import typed_columns
from mailtix.store.migrations import CURRENT_VERSION, schema_version
from mailtix.store.models import Event, Message, SchemaVersion, Ticket

NOW = datetime(2026, 3, 2, 9, 0)
HOUR = timedelta(hours=1)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    store = open_store(f"sqlite:///{tmp_path / 'changes.db'}")
    yield store
    store.close()


def new_ticket(created: datetime = NOW) -> Ticket:
    return Ticket.create(
        subject="Printer", customer="c@example.org", mailbox="support", department="general",
        created_at=created, updated_at=created,
    )  # fmt: skip


def sla() -> SlaConfig:
    return SlaConfig(first_response={Priority.URGENT: HOUR})  # always open, in UTC


def events(ticket: Ticket) -> list[Event]:
    return list(Event.select().where(Event.ticket == ticket).order_by(Event.id))


def test_a_status_change_records_typed_columns_and_stamps_the_ticket(db: Database) -> None:
    ticket = new_ticket()
    assert change(ticket, Field.STATUS, Status.RESOLVED, NOW + HOUR, sla=sla(), actor="alice",
                  reason="fixed")  # fmt: skip
    stored = Ticket.get_by_id(ticket.id)
    assert (stored.status, stored.updated_at, stored.resolved_at) == ("resolved", NOW + HOUR,
                                                                      NOW + HOUR)  # fmt: skip
    assert stored.closed_at is None
    [event] = events(ticket)
    assert (event.type, event.detail, event.actor) == ("status", "new -> resolved: fixed", "alice")
    assert (event.field, event.old_value, event.new_value, event.reason) == (
        "status", "new", "resolved", "fixed",
    )  # fmt: skip
    change(ticket, Field.STATUS, Status.CLOSED, NOW + 2 * HOUR, sla=sla(), reason="done")
    change(ticket, Field.STATUS, Status.OPEN, NOW + 3 * HOUR, sla=sla(), reason="reply")
    stored = Ticket.get_by_id(ticket.id)
    assert (stored.closed_at, stored.resolved_at) == (None, None)


def test_an_unchanged_field_records_nothing(db: Database) -> None:
    ticket = new_ticket()
    assert not change(ticket, Field.DEPARTMENT, "general", NOW, sla=sla())
    assert not change(ticket, Field.PRIORITY, Priority.NORMAL, NOW, sla=sla())
    assert add_tag(ticket, "vip", NOW) and not add_tag(ticket, "vip", NOW)
    assert [(e.type, e.field, e.new_value) for e in events(ticket)] == [("tag", "tags", "vip")]


def test_a_priority_change_recomputes_the_due_times_from_creation(db: Database) -> None:
    ticket = new_ticket()
    assert ticket.first_response_due is None  # normal has no target in sla()
    change(ticket, Field.PRIORITY, Priority.URGENT, NOW + 5 * HOUR, sla=sla(), actor="alice")
    stored = Ticket.get_by_id(ticket.id)
    assert stored.first_response_due == NOW + HOUR
    [event] = events(ticket)
    assert (event.detail, event.old_value, event.new_value) == ("normal -> urgent", "normal",
                                                                "urgent")  # fmt: skip
    change(ticket, Field.PRIORITY, Priority.LOW, NOW + 6 * HOUR, sla=sla())
    assert Ticket.get_by_id(ticket.id).first_response_due is None


def test_an_assignment_by_rule_says_so_in_its_text_and_reason(db: Database) -> None:
    ticket = new_ticket()
    change(ticket, Field.ASSIGNEE, "bob@example.com", NOW, sla=sla(), reason="rule: round-robin")
    change(ticket, Field.ASSIGNEE, "alice@example.com", NOW, sla=sla(), actor="bob@example.com")
    assert [(e.detail, e.old_value, e.new_value, e.reason) for e in events(ticket)] == [
        ("bob@example.com (rule: round-robin)", None, "bob@example.com", "rule: round-robin"),
        ("bob@example.com -> alice@example.com", "bob@example.com", "alice@example.com", None),
    ]


def test_only_the_first_relayed_answer_stamps_first_response(db: Database) -> None:
    ticket = new_ticket()
    record(ticket, EventType.NOTE, "internal", NOW)
    assert Ticket.get_by_id(ticket.id).first_response_at is None
    record(ticket, EventType.REPLIED, "answered", NOW + HOUR, actor="alice")
    record(ticket, EventType.REPLIED, "answered again", NOW + 2 * HOUR, actor="alice")
    assert Ticket.get_by_id(ticket.id).first_response_at == NOW + HOUR


def test_backfill_reads_the_text_older_versions_wrote() -> None:
    def columns(type_: str, detail: str) -> tuple[str | None, ...] | None:
        found = typed_columns(type_, detail)
        return None if found is None else tuple(found.values())

    assert columns("status", "open -> resolved: #status by a@x: b -> c: d") == (
        "status", "open", "resolved", "#status by a@x: b -> c: d",
    )  # fmt: skip
    assert columns("priority", "normal -> urgent") == ("priority", "normal", "urgent", None)
    assert columns("department", "first line -> billing") == (
        "department", "first line", "billing", None,
    )  # fmt: skip
    assert columns("assigned", "nobody -> bob@x") == ("assignee", None, "bob@x", None)
    assert columns("assigned", "bob@x (rule: least-open)") == (
        "assignee", None, "bob@x", "rule: least-open",
    )  # fmt: skip
    assert columns("tag", "vip") == ("tags", None, "vip", None)
    assert columns("sla", "resolution warning (due 2026-11-23T10:00:00); escalated to a@x") == (
        "resolution", None, "warning", "due 2026-11-23T10:00:00",
    )  # fmt: skip
    assert columns("status", "something else") is None
    assert columns("sla", "first response breached") is None


def test_migration_fills_typed_columns_and_first_response_from_old_rows(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = open_store(url)  # made a version 9 database: no typed columns, nothing stamped
    ticket = new_ticket()
    Message.create(ticket=ticket, direction="out", kind="agent", created_at=NOW + 2 * HOUR)
    Message.create(ticket=ticket, direction="out", kind="agent", created_at=NOW + 3 * HOUR)
    for type_, detail in (("status", "new -> open: first answer"), ("note", "a -> b")):
        Event.create(ticket=ticket, type=type_, detail=detail, at=NOW)
    for column in ("field", "old_value", "new_value", "reason"):
        db.execute_sql(f"ALTER TABLE event DROP COLUMN {column}")
    SchemaVersion.update(version=9).execute()
    db.close()

    db = open_store(url)
    try:
        assert schema_version(db) == CURRENT_VERSION
        assert Ticket.get_by_id(ticket.id).first_response_at == NOW + 2 * HOUR
        assert [(e.type, e.field, e.old_value, e.new_value, e.reason) for e in events(ticket)] == [
            ("status", "status", "new", "open", "first answer"),
            ("note", None, None, None, None),
        ]
    finally:
        db.close()


def test_the_report_counts_status_columns_not_words_in_the_reason(db: Database) -> None:
    ticket = new_ticket()
    why = "customer wrote 'open -> resolved: thanks'"
    change(ticket, Field.STATUS, Status.PENDING, NOW + HOUR, sla=sla(), reason=why)
    period = Period(NOW - HOUR, NOW + 24 * HOUR, ZoneInfo("UTC"))
    found = figures.counts(Dialect(db), period)
    assert found[("all", "")]["resolved"] == 0
    change(ticket, Field.STATUS, Status.CLOSED, NOW + 2 * HOUR, sla=sla(), reason="done")
    assert figures.counts(Dialect(db), period)[("all", "")]["resolved"] == 1


def test_pending_since_reads_the_new_status_not_the_reason(db: Database) -> None:
    ticket = new_ticket()
    change(ticket, Field.STATUS, Status.PENDING, NOW, sla=sla(), reason="waiting")
    why = "agent wrote 'x -> pending: y'"
    change(ticket, Field.STATUS, Status.OPEN, NOW + HOUR, sla=sla(), reason=why)
    assert lifecycle.pending_since(ticket) == NOW
