"""Attempt counters for incoming messages, committed before each processing attempt.

The commit is relaxed (``durability``): it survives a process crash, the case it exists for (a
message that kills the process); only an OS crash or power loss could roll it back, which costs
one extra attempt, never a message.

A poll batch counts the first attempt at all of its messages that were never tried, in one
commit (``begin_first_attempts``), instead of one commit each; a message tried before (it
failed, or the process died while its batch was handled) is counted alone, just before it is
handled (``begin_attempt``). So a message that kills the process is still isolated: after the
first crash every message of its batch counts as tried before and is handled one at a time. The
price: a message that came after it in that batch has used one of its attempts without being
tried.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mailtix.store.durability import relaxed_transaction
from mailtix.store.lookups import count_attempt, count_first_attempts
from mailtix.store.models import IngestAttempt


def begin_attempt(mailbox: str, sha256: str, now: datetime) -> tuple[int, str]:
    """Count one more attempt at this message; returns (attempts so far, last error)."""
    with relaxed_transaction():
        return count_attempt(mailbox, sha256, now)


def begin_first_attempts(mailbox: str, sha256s: Sequence[str], now: datetime) -> set[str]:
    """Count the first attempt at each of ``sha256s`` never tried before, in one commit;
    returns those. The others have to be counted with ``begin_attempt``."""
    with relaxed_transaction():
        return count_first_attempts(mailbox, list(dict.fromkeys(sha256s)), now)


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
