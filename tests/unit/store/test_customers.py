"""Customer records: the pipeline's upsert, the CSV import's writes, the schema step's backfill."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from peewee import Database

from mailtix.store import migrations
from mailtix.store.customers import ImportRow, find_customer, import_customer, seen
from mailtix.store.db import open_store
from mailtix.store.migrations import CURRENT_VERSION, schema_version
from mailtix.store.models import Customer, SchemaVersion, Ticket

NOW = datetime(2026, 12, 1, 10, 0, 0)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_store(f"sqlite:///{tmp_path / 'mailtix.db'}")
    yield database
    database.close()


def test_seen_keeps_first_seen_and_the_first_name_and_compares_by_key(db: Database) -> None:
    seen([("carol@example.org", "Carol"), ("bob@münchen.example", "")], NOW)
    later = NOW + timedelta(hours=2)
    seen([("carol@EXAMPLE.org", "Mallory"), ("bob@xn--mnchen-3ya.example", "Bob")], later)

    assert Customer.select().count() == 2
    carol = find_customer("Carol@Example.ORG")
    assert carol is not None
    assert (carol.name, carol.first_seen, carol.last_seen) == ("Carol", NOW, later)
    bob = find_customer("bob@münchen.example")
    assert bob is not None and bob.name == "Bob"  # filled in: the record had none
    assert bob.key == "bob@xn--mnchen-3ya.example"


def test_import_is_idempotent_and_leaves_empty_fields_alone(db: Database) -> None:
    row = ImportRow("dana@bigcorp.example", "Dana", "BigCorp", "de", ("vip",))
    assert import_customer(row, NOW) == "created"
    assert import_customer(row, NOW) == "unchanged"
    assert import_customer(ImportRow("DANA@bigcorp.example", language="fr"), NOW) == "updated"
    dana = find_customer("dana@bigcorp.example")
    assert dana is not None
    assert (dana.name, dana.organisation, dana.language, dana.tags) == (
        "Dana", "BigCorp", "fr", ["vip"],
    )  # fmt: skip


def test_schema_step_makes_a_record_for_every_ticket_customer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = open_store(url)
    made = ((0, "carol@example.org", "Carol"), (3, "Carol@example.org", "Carol C."),
            (1, "erin@example.net", ""))  # fmt: skip
    for days, customer, name in made:
        at = NOW + timedelta(days=days)
        Ticket.create(
            subject="x", department="general", customer=customer, customer_name=name,
            mailbox="support", created_at=at, updated_at=at,
        )  # fmt: skip
    before = migrations.STEPS.index(migrations._customers) + 1  # the version it upgrades
    db.execute_sql("DROP TABLE customer")
    db.execute_sql("ALTER TABLE ticket DROP COLUMN organisation")
    SchemaVersion.update(version=before).execute()
    db.close()

    db = open_store(url)
    try:
        assert schema_version(db) == CURRENT_VERSION
        assert "organisation" in {c.name for c in db.get_columns("ticket")}
        rows = {c.key: (c.name, c.first_seen, c.last_seen) for c in Customer.select()}
        assert rows == {
            "carol@example.org": ("Carol C.", NOW, NOW + timedelta(days=3)),
            "erin@example.net": ("", NOW + timedelta(days=1), NOW + timedelta(days=1)),
        }
    finally:
        db.close()
