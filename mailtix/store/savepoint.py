"""A savepoint inside an open transaction, for one message of a group (``desks.pipeline``).

Peewee's ``atomic()`` nested in a transaction does the same through its own objects and
bookkeeping, and names each savepoint with a fresh UUID: a wall-clock sample of a large poll
put about 5% of its main thread there, for two statements a mail. A savepoint's name only has
to be unique among those open at once, and SQLite and PostgreSQL both release or roll back the
innermost of a name, so one fixed name serves every message, and a peewee ``atomic()`` inside
(or this one again) still nests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mailtix.store.models import database_proxy

NAME = "mailtix_message"


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
