"""The store: opening SQLite with safe pragmas, schema versions and migrations, URL redaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from peewee import Database, TextField
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_migration

from mailtix.domain.errors import MailtixError
from mailtix.store import migrations
from mailtix.store.db import SQLITE_PRAGMAS, open_store, redact
from mailtix.store.migrations import CURRENT_VERSION, schema_version
from mailtix.store.models import ALL_MODELS, SchemaVersion, Ticket

NOW = datetime(2026, 11, 23, 10, 0, 0)


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'var' / 'mailtix.db'}"


def add_ticket(subject: str = "Printer broken") -> Ticket:
    return Ticket.create(
        subject=subject,
        department="general",
        customer="carol@example.org",
        mailbox="support",
        created_at=NOW,
        updated_at=NOW,
    )


def pragma(db: Database, name: str) -> object:
    return db.execute_sql(f"PRAGMA {name}").fetchone()[0]


def test_sqlite_is_opened_with_wal_foreign_keys_and_full_sync(url: str, tmp_path: Path) -> None:
    db = open_store(url)
    try:
        assert (tmp_path / "var" / "mailtix.db").is_file()  # parent directory created
        assert str(pragma(db, "journal_mode")).lower() == "wal"
        assert pragma(db, "foreign_keys") == 1
        assert pragma(db, "synchronous") == 2
        assert pragma(db, "busy_timeout") == SQLITE_PRAGMAS["busy_timeout"]
    finally:
        db.close()


def test_new_database_gets_every_table_and_the_current_version(url: str) -> None:
    db = open_store(url)
    try:
        tables = set(db.get_tables())
        assert {m._meta.table_name for m in (*ALL_MODELS, SchemaVersion)} <= tables
        assert schema_version(db) == CURRENT_VERSION
        assert SchemaVersion.select().count() == 1
    finally:
        db.close()


def test_reopening_keeps_data_and_does_not_recreate(url: str) -> None:
    db = open_store(url)
    ticket = add_ticket()
    db.close()

    db = open_store(url)
    try:
        assert [t.subject for t in Ticket.select()] == ["Printer broken"]
        assert Ticket.get_by_id(ticket.id).customer == "carol@example.org"
        assert SchemaVersion.select().count() == 1
        assert schema_version(db) == CURRENT_VERSION
        assert migrations.migrate(db) == CURRENT_VERSION  # "it was already current"
    finally:
        db.close()


def test_empty_database_has_no_version(tmp_path: Path) -> None:
    db = open_store(f"sqlite:///{tmp_path / 'empty.db'}", upgrade=False)
    try:
        assert schema_version(db) is None
        assert db.get_tables() == []
    finally:
        db.close()


def test_database_newer_than_the_code_is_a_clear_error(url: str) -> None:
    db = open_store(url)
    SchemaVersion.update(version=CURRENT_VERSION + 1).execute()
    db.close()
    with pytest.raises(MailtixError, match=r"schema version \d+ is newer than this mailtix"):
        open_store(url)
    database = open_store(url, upgrade=False)  # nothing was touched
    try:
        assert schema_version(database) == CURRENT_VERSION + 1
    finally:
        database.close()


def _add_note_column(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    run_migration(migrator.add_column("ticket", "note", TextField(null=True)))


def test_a_new_step_upgrades_an_old_database_and_keeps_its_data(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:  # a database as the first release made it
        patch.setattr(migrations, "CURRENT_VERSION", 1)
        db = open_store(url)
        add_ticket("Made by version 1")
        assert schema_version(db) == 1
        db.close()

    # every real step, then one more; each runs once and the data survives them all
    monkeypatch.setattr(migrations, "STEPS", [*migrations.STEPS, _add_note_column])
    monkeypatch.setattr(migrations, "CURRENT_VERSION", CURRENT_VERSION + 1)
    db = open_store(url)
    try:
        assert schema_version(db) == CURRENT_VERSION + 1
        assert SchemaVersion.select().count() == 1
        columns = {c.name for c in db.get_columns("ticket")}
        assert "note" in columns
        assert [t.subject for t in Ticket.select()] == ["Made by version 1"]
        row = db.execute_sql("SELECT subject, note FROM ticket").fetchone()
        assert row == ("Made by version 1", None)
    finally:
        db.close()

    db = open_store(url)  # the step runs once: reopening does not add the column again
    db.close()


def indexes(db: Database) -> set[str]:
    rows = db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    return {name for (name,) in rows if not name.startswith("sqlite_")}


VERSION_8_ONLY = {  # the indexes version 9 drops, as create_tables made them
    "ticket_status": "ticket (status)",
    "ticket_customer": "ticket (customer)",
    "participant_ticket_id": "participant (ticket_id)",
    "message_ticket_id": "message (ticket_id)",
    "message_created_at": "message (created_at)",
    "message_raw_sha256": "message (raw_sha256)",
    "event_ticket_id": "event (ticket_id)",
    "event_type": "event (type)",
}


def test_version_9_drops_idle_indexes_and_matches_a_new_database(url: str, tmp_path: Path) -> None:
    fresh = open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    wanted = indexes(fresh)
    fresh.close()
    assert not wanted & set(VERSION_8_ONLY) and set(VERSION_8_ONLY) == set(
        migrations.DROPPED_INDEXES
    )

    db = open_store(url)  # made a version 8 database: its indexes back, its version number
    add_ticket("Made by version 8")
    for name, target in VERSION_8_ONLY.items():
        db.execute_sql(f"CREATE INDEX {name} ON {target}")
    SchemaVersion.update(version=8).execute()
    db.close()

    db = open_store(url)
    try:
        assert schema_version(db) == CURRENT_VERSION
        assert indexes(db) == wanted
        assert [t.subject for t in Ticket.select()] == ["Made by version 8"]
    finally:
        db.close()


def test_a_failing_step_leaves_the_database_at_its_old_version(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = open_store(url)
    add_ticket("Survives a broken upgrade")
    db.close()

    def broken(database: Database) -> None:
        _add_note_column(database)
        raise ValueError("step bug")

    monkeypatch.setattr(migrations, "STEPS", [*migrations.STEPS, broken])
    monkeypatch.setattr(migrations, "CURRENT_VERSION", CURRENT_VERSION + 1)
    with pytest.raises(ValueError, match="step bug"):
        open_store(url)
    monkeypatch.undo()

    db = open_store(url)
    try:
        assert schema_version(db) == CURRENT_VERSION
        assert "note" not in {c.name for c in db.get_columns("ticket")}  # rolled back
        assert [t.subject for t in Ticket.select()] == ["Survives a broken upgrade"]
    finally:
        db.close()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://mailtix:s3cret@db.example.com:5432/mailtix", "postgresql://mailtix:***@db.example.com:5432/mailtix"),
        ("postgres://u:p@ss:w@rd@host/db", "postgres://u:***@host/db"),
        ("postgresql://mailtix@db.example.com/mailtix", "postgresql://mailtix@db.example.com/mailtix"),
        ("sqlite:////var/lib/mailtix/mailtix.db", "sqlite:////var/lib/mailtix/mailtix.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
    ],
)  # fmt: skip
def test_redact_hides_passwords(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_a_failed_connection_does_not_show_the_password() -> None:
    with pytest.raises(MailtixError) as caught:
        open_store("postgresql://mailtix:hunter2@127.0.0.1:1/mailtix")
    message = str(caught.value)
    assert "hunter2" not in message
    assert "mailtix:***@127.0.0.1:1" in message


def test_unsupported_url_is_a_clear_error() -> None:
    with pytest.raises(MailtixError, match="unsupported store URL mysql://u:\\*\\*\\*@h/db"):
        open_store("mysql://u:pw@h/db")
