"""A message's savepoint in a group's transaction (``store.savepoint``), on SQLite and on
PostgreSQL: a block that raises leaves none of its rows and the transaction goes on, a
block that does not keeps them, and peewee's own ``atomic()`` nests inside it; and
``with_group``, a message's share of the group's transaction without a savepoint on SQLite."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from peewee import Database, PostgresqlDatabase

from mailtix.store.db import open_store
from mailtix.store.models import Ticket, database_proxy
from mailtix.store.savepoint import Spoilt, savepoint, with_group

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = (
        f"sqlite:///{tmp_path / 'mailtix.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    store = open_store(url)
    yield store
    store.close()


def ticket(subject: str) -> None:
    Ticket.create(subject=subject, department="general", customer="c@example.org",
                  mailbox="support", created_at=NOW, updated_at=NOW)  # fmt: skip


def subjects(prefix: str) -> list[str]:
    rows = Ticket.select().where(Ticket.subject.startswith(prefix)).order_by(Ticket.id)
    return [t.subject.removeprefix(prefix) for t in rows]


def test_a_failed_block_leaves_nothing_and_the_transaction_goes_on(db: Database) -> None:
    tag = secrets.token_hex(4)
    with database_proxy.atomic():
        ticket(f"{tag} before")
        with pytest.raises(RuntimeError), savepoint():
            ticket(f"{tag} lost")
            with database_proxy.atomic():  # peewee's savepoint, nested in this one
                ticket(f"{tag} lost too")
            raise RuntimeError("the message failed")
        with savepoint():
            ticket(f"{tag} kept")
            with pytest.raises(RuntimeError), savepoint():  # the same name, nested
                ticket(f"{tag} inner lost")
                raise RuntimeError("inner")
        ticket(f"{tag} after")
    assert subjects(f"{tag} ") == ["before", "kept", "after"]


def test_a_failed_statement_is_rolled_back_with_its_block(db: Database) -> None:
    """On PostgreSQL a failed statement aborts the transaction until the rollback to the
    savepoint; after it, the transaction goes on there too."""
    tag = secrets.token_hex(4)
    with database_proxy.atomic():
        with pytest.raises(Exception, match="(?i)no such table|does not exist"), savepoint():
            ticket(f"{tag} lost")
            db.execute_sql("SELECT * FROM no_such_table")
        ticket(f"{tag} after")
    assert subjects(f"{tag} ") == ["after"]


def test_with_group_raises_spoilt_once_a_block_changed_rows_on_sqlite(db: Database) -> None:
    """SQLite: no savepoint; an error before any change is itself, after one it is Spoilt and
    the rows stay until the caller rolls the group back whole. PostgreSQL: a savepoint."""
    tag = secrets.token_hex(4)
    sqlite = not isinstance(db, PostgresqlDatabase)
    with database_proxy.atomic():
        ticket(f"{tag} before")
        with pytest.raises(ValueError), with_group():  # nothing written: the error itself
            Ticket.select().count()
            raise ValueError("no sender")
        with with_group():
            ticket(f"{tag} kept")
        with pytest.raises(Spoilt if sqlite else RuntimeError), with_group():
            ticket(f"{tag} written")
            raise RuntimeError("over budget after handling")
        ticket(f"{tag} after")
    written = ["written"] if sqlite else []  # the pipeline rolls such a group back
    assert subjects(f"{tag} ") == ["before", "kept", *written, "after"]


def test_with_group_lets_an_interrupt_through_as_itself(db: Database) -> None:
    tag = secrets.token_hex(4)
    with pytest.raises(KeyboardInterrupt), database_proxy.atomic(), with_group():
        ticket(f"{tag} lost")
        raise KeyboardInterrupt
    assert subjects(f"{tag} ") == []
