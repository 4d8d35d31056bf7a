"""One message's writes inside a group's transaction (``desks.pipeline``): all of them or none.

On PostgreSQL a savepoint (``savepoint``): a failed statement aborts the whole transaction
there unless one is open. Peewee's ``atomic()`` nested in a transaction does the same through
its own objects and bookkeeping, and names each savepoint with a fresh UUID; a savepoint's name
only has to be unique among those open at once, and SQLite and PostgreSQL both release or roll
back the innermost of a name, so one fixed name serves every message, and a peewee
``atomic()`` inside (or this one again) still nests.

On SQLite no savepoint at all (``with_group``): besides its two statements, a savepoint copies
every page a message touches first, and a message touches dozens. A message that fails before
it changed a row is just raised, as with a savepoint; one that fails after is raised as
``Spoilt``, and the group, rolled back whole, is handled again a message at a time, each in a
transaction of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from peewee import PostgresqlDatabase

from mailtix.store.models import database_proxy

NAME = "mailtix_message"


class Spoilt(Exception):
    """A message of a group failed after it changed rows that cannot be undone alone: the
    group's transaction is to be rolled back whole."""


@contextmanager
def savepoint() -> Iterator[None]:
    """All of the block's writes, or none of them when it raises (the transaction goes on)."""
    db = database_proxy.obj
    db.execute_sql(f"SAVEPOINT {NAME}")
    try:
        yield
    except BaseException:
        db.execute_sql(f"ROLLBACK TO SAVEPOINT {NAME}")
        db.execute_sql(f"RELEASE SAVEPOINT {NAME}")
        raise
    db.execute_sql(f"RELEASE SAVEPOINT {NAME}")


@contextmanager
def with_group() -> Iterator[None]:
    """The block's writes stand or fall with the open transaction: when it raises an error
    after it changed a row (SQLite counts them on the connection), ``Spoilt`` is raised from
    that error; before, the error itself. On PostgreSQL, ``savepoint``."""
    db = database_proxy.obj
    if isinstance(db, PostgresqlDatabase):
        with savepoint():
            yield
        return
    connection = db.connection()
    before = connection.total_changes
    try:
        yield
    except Exception as exc:
        if connection.total_changes != before:
            raise Spoilt(f"{type(exc).__name__}: {exc}") from exc
        raise
