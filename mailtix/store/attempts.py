"""Attempt counters for incoming messages, committed before each processing attempt.

The commit is made with SQLite ``synchronous=NORMAL``: in WAL mode it survives a process crash
(the case it exists for: a message that kills the process); only an OS crash or power loss
could roll it back, which costs one extra attempt, never a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from peewee import SqliteDatabase

from mailtix.store.models import IngestAttempt, database_proxy


@contextmanager
def relaxed_transaction() -> Iterator[None]:
    """A transaction whose commit needs to survive a process crash, not a power loss."""
    db = database_proxy.obj
    sqlite = isinstance(db, SqliteDatabase)
    if sqlite:
        db.execute_sql("PRAGMA synchronous=NORMAL")
    try:
        with db.atomic():
            yield
    finally:
        if sqlite:
            db.execute_sql("PRAGMA synchronous=FULL")


def begin_attempt(mailbox: str, sha256: str, now: datetime) -> tuple[int, str]:
    """Count one more attempt at this message; returns (attempts so far, last error)."""
    with relaxed_transaction():
        query = (
            IngestAttempt.insert(mailbox=mailbox, sha256=sha256, attempts=1, updated_at=now)
            .on_conflict(
                conflict_target=[IngestAttempt.mailbox, IngestAttempt.sha256],
                update={
                    IngestAttempt.attempts: IngestAttempt.attempts + 1,
                    IngestAttempt.updated_at: now,
                },
            )  # fmt: skip
            .returning(IngestAttempt.attempts, IngestAttempt.last_error)
            .tuples()
        )
        attempts, last_error = next(iter(query.execute()))
    return int(attempts), str(last_error)


def record_failure(mailbox: str, sha256: str, error: str, now: datetime) -> None:
    with relaxed_transaction():
        IngestAttempt.update(last_error=error[:2000], updated_at=now).where(
            (IngestAttempt.mailbox == mailbox) & (IngestAttempt.sha256 == sha256)
        ).execute()


def reset_attempts(mailbox: str, sha256: str) -> None:
    """Forget earlier attempts (a message released from the quarantine starts afresh)."""
    with relaxed_transaction():
        IngestAttempt.delete().where(
            (IngestAttempt.mailbox == mailbox) & (IngestAttempt.sha256 == sha256)
        ).execute()
