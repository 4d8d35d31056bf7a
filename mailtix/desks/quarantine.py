"""The quarantine: messages that could not be processed, kept with their bytes and the reason."""

from __future__ import annotations

from datetime import datetime

from mailtix.store.ledger import Delivered, add_receipt
from mailtix.store.models import QuarantineItem


def quarantine(
    source: Delivered, raw: bytes | None, sha: str, reason: str, now: datetime, *, size: int
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
    add_receipt(source, sha, "quarantined", reason, None, now)
    return item


def held() -> list[QuarantineItem]:
    return list(
        QuarantineItem.select().where(QuarantineItem.status == "held").order_by(QuarantineItem.id)
    )
