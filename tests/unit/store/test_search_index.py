"""The full-text index (``store.search_index``): kept current by whoever writes messages,
built for older stores by its schema step, the same searches on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from peewee import Database
from support.search_index import whole_index

from mailtix.store import migrations, open_store
from mailtix.store.migrations import CURRENT_VERSION, schema_version
from mailtix.store.models import ALL_MODELS, Message, SchemaVersion, Ticket
from mailtix.store.savepoint import savepoint
from mailtix.store.search_index import (
    MAX_PAGES,
    PAGE,
    PENDING,
    TABLE,
    forget_deleted,
    indexed_at_end,
    matching_tickets,
    search_words,
)

NOW = datetime(2026, 11, 23, 10)


def ticket(subject: str, text: str) -> Ticket:
    made = Ticket.create(subject=subject, department="general", customer="carol@example.org",
                         mailbox="support", created_at=NOW, updated_at=NOW)  # fmt: skip
    Message.create(ticket=made, direction="in", kind="customer", subject=subject, text=text,
                   created_at=NOW)  # fmt: skip
    return made


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = open_store(f"sqlite:///{tmp_path / 'mailtix.db'}")
    yield db
    db.close()


@pytest.fixture
def pg_db(postgres_url: str) -> Iterator[Database]:
    db = open_store(postgres_url, upgrade=False)
    db.drop_tables([*ALL_MODELS, SchemaVersion], safe=True, cascade=True)
    db.close()
    db = open_store(postgres_url)
    yield db
    db.drop_tables([*ALL_MODELS, SchemaVersion], safe=True, cascade=True)
    db.close()


def test_words_are_letters_and_digits_only() -> None:
    assert search_words('print" OR x* NEAR(a b) -- ; drop*') == [
        "print", "OR", "x*", "NEAR", "a", "b", "drop*",
    ]  # fmt: skip
    assert search_words("\"'*()^:") == []
    assert search_words("a**") == ["a*"]
    assert len(search_words("a " * 50)) == 10


@pytest.mark.parametrize("backend", ["sqlite_db", "pg_db"])
def test_search_finds_every_word_or_prefix_newest_first(
    backend: str, request: pytest.FixtureRequest
) -> None:
    request.getfixturevalue(backend)
    printer = ticket("Printer jams", "It jams on page two.")
    ticket("Scanner", "The scanner is fine, the printer too")
    later = ticket("Another printer", "Paper jam in tray 2")
    assert matching_tickets("print* jam*", 10) == [later.id, printer.id]
    assert matching_tickets("printer jams", 10) == [printer.id]
    assert matching_tickets("print", 10) == []
    assert matching_tickets("PRINTER", 1) == [later.id]
    assert matching_tickets("zebra", 10) == []
    assert matching_tickets('"); DROP TABLE message; --', 10) == []
    assert Message.select().count() == 3


def test_index_follows_updates_deletes_and_moves(sqlite_db: Database) -> None:
    first = ticket("Printer jams", "My password is hunter2")
    other = ticket("Toner", "empty")
    assert matching_tickets("hunter2", 10) == [first.id]
    Message.update(text="[erased]").where(Message.ticket == first.id).execute()
    assert matching_tickets("hunter2", 10) == []
    assert matching_tickets("erased", 10) == [first.id]
    Message.update(ticket=other.id).where(Message.ticket == first.id).execute()  # a merge
    assert matching_tickets("erased", 10) == [other.id]
    Message.delete().execute()
    assert matching_tickets("printer", 10) == matching_tickets("toner", 10) == []
    whole_index(sqlite_db.connection())


def test_schema_step_builds_the_index_for_existing_messages(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = open_store(url)
    old = ticket("Printer jams", "It jams.")
    for name in ("insert", "delete", "update"):
        db.execute_sql(f"DROP TRIGGER {TABLE}_{name}")
    db.execute_sql(f"DROP TABLE {TABLE}")
    SchemaVersion.update(version=migrations.STEPS.index(migrations._search_index) + 1).execute()
    db.close()

    db = open_store(url)
    try:
        assert schema_version(db) == CURRENT_VERSION
        assert matching_tickets("jams", 10) == [old.id]
        new = ticket("Printer again", "jams")
        assert matching_tickets("jams", 10) == [new.id, old.id]
    finally:
        db.close()


def test_a_ticket_with_thousands_of_hits_costs_a_bounded_number_of_pages(
    sqlite_db: Database,
) -> None:
    old = ticket("Old printer", "printer")
    busy = ticket("Printer", "printer")
    row = {"ticket": busy.id, "direction": "in", "kind": "customer", "subject": "x"}
    rows = [{**row, "text": "printer again", "created_at": NOW}] * (PAGE * MAX_PAGES)
    for start in range(0, len(rows), 500):
        Message.insert_many(rows[start : start + 500]).execute()
    assert matching_tickets("printer", 5) == [busy.id]  # the old hit lies beyond the pages
    assert matching_tickets("old", 5) == [old.id]


def test_forget_deleted_leaves_no_erased_word_in_the_index_pages(sqlite_db: Database) -> None:
    def in_pages(word: bytes) -> bool:
        blocks = sqlite_db.execute_sql(f"SELECT block FROM {TABLE}_data").fetchall()
        return any(word in bytes(b) for (b,) in blocks if b is not None)

    for n in range(30):
        ticket(f"Filler {n}", "nothing to see")
    secret = ticket("Login", "my password is zqxhunter2")
    assert in_pages(b"zqxhunter2")
    Message.update(text="[erased]").where(Message.ticket == secret.id).execute()
    assert matching_tickets("zqxhunter2", 5) == [] and in_pages(b"zqxhunter2")
    forget_deleted(sqlite_db)
    assert not in_pages(b"zqxhunter2") and matching_tickets("erased", 5) == [secret.id]


def test_a_group_indexes_its_messages_at_its_end_with_their_final_text(
    sqlite_db: Database,
) -> None:
    older = ticket("Toner", "the toner is empty")
    with sqlite_db.atomic():
        with indexed_at_end():
            added = ticket("Printer", "")
            record = Message.create(ticket=added, direction="out", kind="auto", subject="",
                                    text="", created_at=NOW)  # fmt: skip
            assert matching_tickets("printer", 10) == []  # not yet: at the block's end
            Message.update(subject="Re: Printer", text="we print again").where(
                Message.id == record.id
            ).execute()  # a letter made ahead, filled before the commit
            Message.update(text="the toner is full").where(Message.ticket == older.id).execute()
            assert matching_tickets("full", 10) == [older.id]  # an older row: at once
        assert sqlite_db.execute_sql(f"SELECT count(*) FROM {PENDING}").fetchone() == (0,)
    assert matching_tickets("print", 10) == [added.id]
    assert matching_tickets("printer", 10) == [added.id]
    assert matching_tickets("empty", 10) == []
    whole_index(sqlite_db.connection())
    ticket("Scanner", "after the group")  # the triggers index again
    assert len(matching_tickets("scanner", 10)) == 1
    whole_index(sqlite_db.connection())


def test_a_group_rolled_back_leaves_no_mark_and_no_index_rows(sqlite_db: Database) -> None:
    with pytest.raises(ZeroDivisionError), sqlite_db.atomic(), indexed_at_end():
        ticket("Printer", "jams")
        with pytest.raises(KeyError), savepoint():  # a message rolled back inside the group
            ticket("Lost", "vanished")
            raise KeyError("lost")
        assert matching_tickets("vanished", 10) == []
        raise ZeroDivisionError("the group fails")
    assert sqlite_db.execute_sql(f"SELECT count(*) FROM {PENDING}").fetchone() == (0,)
    assert matching_tickets("printer", 10) == matching_tickets("lost", 10) == []
    kept = ticket("Printer", "jams")
    assert matching_tickets("jams", 10) == [kept.id]
    whole_index(sqlite_db.connection())


def test_a_group_needs_a_transaction(sqlite_db: Database) -> None:
    with pytest.raises(RuntimeError, match="transaction"), indexed_at_end():
        pass


def test_a_store_of_the_version_before_gets_the_group_triggers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = open_store(url)
    old_insert = (
        f"CREATE TRIGGER {TABLE}_insert AFTER INSERT ON message BEGIN INSERT INTO {TABLE} "
        "(rowid, subject, text) VALUES (new.id, new.subject, new.text); END"
    )
    db.execute_sql(f"DROP TRIGGER {TABLE}_insert")
    db.execute_sql(old_insert)
    db.execute_sql(f"DROP TABLE {PENDING}")
    before = migrations.STEPS.index(migrations._search_index_groups) + 1
    SchemaVersion.update(version=before).execute()
    db.close()

    db = open_store(url)
    try:
        assert schema_version(db) == CURRENT_VERSION
        with db.atomic(), indexed_at_end():
            made = ticket("Printer", "")
            Message.update(text="jams").where(Message.ticket == made.id).execute()
        assert matching_tickets("jams", 10) == [made.id]
        whole_index(db.connection())
    finally:
        db.close()


def test_a_group_inside_a_group_leaves_the_indexing_to_the_outer_one(
    sqlite_db: Database,
) -> None:
    with sqlite_db.atomic(), indexed_at_end():
        outer = ticket("Outer", "first")
        with indexed_at_end():
            inner = ticket("Inner", "")
            assert matching_tickets("first", 10) == []
        assert matching_tickets("inner", 10) == []  # the outer group's row, indexed at its end
        Message.update(text="second").where(Message.ticket == inner.id).execute()
    assert matching_tickets("first", 10) == [outer.id]
    assert matching_tickets("second", 10) == [inner.id]
    whole_index(sqlite_db.connection())
