"""Open the store from a URL: SQLite (WAL, foreign keys, synchronous=FULL) or PostgreSQL.

SQLite transactions begin IMMEDIATE (they take the write lock up front, waiting up to
``busy_timeout``): a transaction that reads before it writes can then never fail with "database
is locked" because another connection (the daemon's outbox job, another worker, `mailtix
ingest` from the MTA) committed meanwhile.
"""

from __future__ import annotations

from pathlib import Path

from peewee import Database, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect

from mailtix.errors import MailtixError
from mailtix.store.migrations import migrate
from mailtix.store.models import database_proxy

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": 2,  # FULL: a committed ticket survives a power loss, also in WAL mode
    "busy_timeout": 15000,
    "cache_size": -32000,  # KiB: 32 MB of page cache instead of 2 MB
    "temp_store": 2,  # MEMORY
}


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
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE")
    if url.startswith(("postgresql://", "postgres://")):
        db = connect(url)
        if not isinstance(db, PostgresqlDatabase):
            raise MailtixError(f"not a PostgreSQL URL: {redact(url)}")
        return db
    raise MailtixError(f"unsupported store URL {redact(url)} (use sqlite:/// or postgresql://)")


def is_postgres(db: Database) -> bool:
    return isinstance(db, PostgresqlDatabase)


def redact(url: str) -> str:
    """The URL with any password replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url
