"""The quarantine: messages that could not be processed, kept with their bytes and the reason."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from mailtix.store.models import QuarantineItem, Receipt


class SourceLike(Protocol):
    @property
    def mailbox(self) -> str: ...
    @property
    def uidvalidity(self) -> int: ...
    @property
    def uid(self) -> int | None: ...


def quarantine(
    source: SourceLike, raw: bytes | None, sha: str, reason: str, now: datetime, *, size: int
) -> QuarantineItem:
    """Record a message in the quarantine table and in the ingest ledger (caller commits)."""
    item = QuarantineItem.create(
        mailbox=source.mailbox,
        uidvalidity=source.uidvalidity,
        uid=source.uid,
        sha256=sha,
        rfc822=raw,
        size=size,
        reason=reason[:2000],
        created_at=now,
    )
    Receipt.create(
        mailbox=source.mailbox,
        uidvalidity=source.uidvalidity,
        uid=source.uid,
        sha256=sha,
        outcome="quarantined",
        detail=reason[:2000],
        created_at=now,
    )
    return item


def held() -> list[QuarantineItem]:
    return list(
        QuarantineItem.select().where(QuarantineItem.status == "held").order_by(QuarantineItem.id)
    )
