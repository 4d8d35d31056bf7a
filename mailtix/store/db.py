"""Open the store from a URL: SQLite (WAL, foreign keys, synchronous=FULL) or PostgreSQL.

SQLite transactions begin IMMEDIATE (they take the write lock up front, waiting up to
``busy_timeout``): a transaction that reads before it writes can then never fail with "database
is locked" because another connection (the daemon's outbox job, another worker, `mailtix
ingest` from the MTA) committed meanwhile. Threads of one process (the poller and the outbox
sender) also queue for a Python lock before they begin: SQLite's own wait polls with sleeps of
up to 100 ms, which would throttle a sender that commits after every mail.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from peewee import Database, OperationalError, PostgresqlDatabase, SqliteDatabase

from mailtix.domain.errors import MailtixError
from mailtix.domain.private_files import create_private_file, make_private_dir
from mailtix.store.migrations import migrate
from mailtix.store.models import database_proxy

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": 2,  # FULL: a committed ticket survives a power loss, also in WAL mode
    "busy_timeout": 15000,
    "cache_size": -8000,  # KiB; a 2,000-mail poll ran 3% faster than with 32 MB, reports alike
    "temp_store": 2,  # MEMORY
    # pages (40 MB): a new ticket writes ~60 WAL pages, and every checkpoint syncs the disk
    # twice; at the default 1,000 that was one pair of syncs per ~17 messages of a poll batch
    "wal_autocheckpoint": 10000,
}


class _SqliteStore(SqliteDatabase):
    """SqliteDatabase whose top-level transactions take an in-process writer lock first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer = threading.Lock()
        self._holding = threading.local()

    def begin(self, lock_type: str | None = None) -> None:
        if getattr(self._holding, "nowait", False):
            if not self._writer.acquire(blocking=False):
                raise OperationalError("database is locked (by this process)")
        else:
            self._writer.acquire()
        self._holding.value = True
        try:
            super().begin(lock_type)
        except BaseException:
            self._release()
            raise

    def commit(self) -> None:
        super().commit()  # a failed COMMIT is followed by rollback(), which releases
        self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    @contextmanager
    def without_waiting(self) -> Iterator[None]:
        """Writes inside fail at once with "database is locked" where they would wait for
        another writer (of this process or another)."""
        connection = self.connection()
        self._holding.nowait = True
        connection.execute("PRAGMA busy_timeout = 0")
        try:
            yield
        finally:
            connection.execute(f"PRAGMA busy_timeout = {SQLITE_PRAGMAS['busy_timeout']}")
            self._holding.nowait = False

    def _release(self) -> None:
        if getattr(self._holding, "value", False):
            self._holding.value = False
            self._writer.release()


def open_store(url: str, *, upgrade: bool = True) -> Database:
    """Connect to ``url``, bind the models to it and bring the schema up to date."""
    db = _connect(url)
    database_proxy.initialize(db)
    try:
        db.connect(reuse_if_open=True)
    except Exception as exc:
        raise MailtixError(f"cannot open store {redact(url)}: {exc}") from exc
    if upgrade:
        migrate(db)
    return db


def _connect(url: str) -> Database:
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path != ":memory:":  # SQLite gives the -wal and -shm files the database's mode
            try:
                make_private_dir(Path(path).parent)
                create_private_file(Path(path))
            except OSError as exc:
                raise MailtixError(f"cannot open store {path}: {exc.strerror or exc}") from exc
        return _SqliteStore(path, pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE")
    if url.startswith(("postgresql://", "postgres://")):
        from playhouse.db_url import connect  # not imported for a SQLite store

        db = connect(url)
        if not isinstance(db, PostgresqlDatabase):
            raise MailtixError(f"not a PostgreSQL URL: {redact(url)}")
        return db
    raise MailtixError(f"unsupported store URL {redact(url)} (use sqlite:/// or postgresql://)")


def write_if_free(work: Callable[[], object]) -> bool:
    """Run ``work`` (which writes) at once, or not at all: False, and nothing done, when the
    SQLite store is being written by someone else right now. For writes that can wait, so a
    sender never queues behind the poller's transactions. PostgreSQL has no store-wide write
    lock: ``work`` always runs there."""
    db = database_proxy.obj
    if not isinstance(db, _SqliteStore):
        work()
        return True
    try:
        with db.without_waiting():
            work()
    except OperationalError as exc:
        if "locked" not in str(exc):
            raise
        return False
    return True


def is_postgres(db: Database) -> bool:
    return isinstance(db, PostgresqlDatabase)


def sqlite_file(db: Database) -> Path | None:
    """The SQLite database's file; None for PostgreSQL or an in-memory SQLite database."""
    if not isinstance(db, SqliteDatabase) or db.database == ":memory:":
        return None
    return Path(db.database)


def redact(url: str) -> str:
    """The URL with any password replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url
