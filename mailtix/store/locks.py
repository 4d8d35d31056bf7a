"""One poller per mailbox, however many workers run: a PostgreSQL session advisory lock per
mailbox (released by the server if the worker dies), or for a SQLite store an exclusive lock
file next to the database (released by the OS if the process dies).

A worker that does not get the lock skips that mailbox this round; the unique ingest ledger
(mailbox, UIDVALIDITY, UID) remains the last line of defence against double processing.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from peewee import PostgresqlDatabase

from mailtix.store.db import sqlite_file
from mailtix.store.models import database_proxy

NAMESPACE = "mailtix-mailbox:"


def lock_key(mailbox: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock."""
    digest = hashlib.sha256((NAMESPACE + mailbox).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def mailbox_lock(mailbox: str) -> Iterator[bool]:
    """Yields True when this worker may poll ``mailbox`` now, False when another one is."""
    db = database_proxy.obj
    if isinstance(db, PostgresqlDatabase):
        with _advisory(db, lock_key(mailbox)) as held:
            yield held
    elif (path := sqlite_file(db)) is not None:
        with _lock_file(path.with_name(f".{path.name}.{mailbox}.lock")) as held:
            yield held
    else:
        yield True


@contextmanager
def _advisory(db: PostgresqlDatabase, key: int) -> Iterator[bool]:
    held = bool(db.execute_sql("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])
    try:
        yield held
    finally:
        if held:
            db.execute_sql("SELECT pg_advisory_unlock(%s)", (key,))


@contextmanager
def _lock_file(path: Path) -> Iterator[bool]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
