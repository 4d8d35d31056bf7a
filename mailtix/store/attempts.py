"""Attempt counters for incoming messages, committed before each processing attempt.

The commit is relaxed (``durability``): it survives a process crash, the case it exists for (a
message that kills the process); only an OS crash or power loss could roll it back, which costs
one extra attempt, never a message.
"""

from __future__ import annotations

from datetime import datetime

from mailtix.store.durability import relaxed_transaction
from mailtix.store.lookups import count_attempt
from mailtix.store.models import IngestAttempt


def begin_attempt(mailbox: str, sha256: str, now: datetime) -> tuple[int, str]:
    """Count one more attempt at this message; returns (attempts so far, last error)."""
    with relaxed_transaction():
        return count_attempt(mailbox, sha256, now)


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
