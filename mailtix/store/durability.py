"""When a commit has to reach the disk.

The store's default is the safe one: SQLite ``synchronous=FULL``, PostgreSQL
``synchronous_commit=on``, so every commit survives a power loss. Inside ``relaxed()`` a commit
only has to survive a crash of the process (SQLite ``synchronous=NORMAL``, which in WAL mode
still writes every commit to the log before it returns; PostgreSQL ``synchronous_commit=off``).
That is enough for the attempt counters and the outbox's "sent" marks (a power loss could cost
an extra attempt or a resent acknowledgement, never a mail), and for the commits of a poll
batch (groups of messages, ``pipeline.process_batch``), which ``durable_point`` makes durable
together, with one synced commit, before the batch is moved out of the inbox: one disk flush
per batch instead of one per commit, and still nothing moved that is not on disk. (The sender
may already have sent an acknowledgement of a relaxed commit; if a power loss then undoes the
ticket, the message, still in the inbox, makes a new one and is acknowledged again.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from peewee import PostgresqlDatabase, SqliteDatabase

from mailtix.domain.clock import utcnow
from mailtix.store.models import MailboxState, database_proxy

_depth = threading.local()  # peewee keeps one connection per thread, so the mode is per thread


def _set_relaxed(db: Any, on: bool) -> None:
    if isinstance(db, SqliteDatabase):
        db.execute_sql(f"PRAGMA synchronous={'NORMAL' if on else 'FULL'}")
    elif isinstance(db, PostgresqlDatabase):
        db.execute_sql(f"SET synchronous_commit TO {'off' if on else 'on'}")


@contextmanager
def relaxed() -> Iterator[None]:
    """Commits inside need to survive a process crash, not a power loss (see above)."""
    depth = getattr(_depth, "value", 0)
    db = database_proxy.obj
    if depth == 0:
        _set_relaxed(db, True)
    _depth.value = depth + 1
    try:
        yield
    finally:
        _depth.value = depth
        if depth == 0:
            _set_relaxed(db, False)


@contextmanager
def relaxed_transaction() -> Iterator[None]:
    """One transaction whose commit needs to survive a process crash, not a power loss."""
    with relaxed(), database_proxy.atomic():
        yield


def durable_point(mailbox: str) -> None:
    """A synced commit (it notes the time on the mailbox's state): on SQLite in WAL mode it
    flushes the log and with it every relaxed commit before it; on PostgreSQL it waits for the
    WAL up to its own commit record, which also lies after theirs."""
    if getattr(_depth, "value", 0):
        raise RuntimeError("durable_point inside relaxed(): it would not be durable")
    now = utcnow()
    with database_proxy.atomic():  # a real write: a commit that changes nothing syncs nothing
        MailboxState.insert(mailbox=mailbox, last_uid=0, updated_at=now).on_conflict(
            conflict_target=[MailboxState.mailbox], update={MailboxState.updated_at: now}
        ).execute()
