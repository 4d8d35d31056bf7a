"""The quarantine: messages that could not be processed, kept with their bytes and the reason;
and the spam or ignored mail that no folder holds (LMTP, ``ingest``), kept there as well."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailtix.domain.vocabulary import QuarantineStatus
from mailtix.store.ledger import Delivered, add_receipt
from mailtix.store.models import QuarantineItem

KEPT_KINDS = frozenset({"ignored", "spam"})  # outcomes whose mail a folderless source keeps


@dataclass(frozen=True)
class Overrule:
    """An admin's decision on a kept mail (``mailtix quarantine retry``): ``not_spam``, the MX's
    spam flag and spam rules are not obeyed; ``not_ignored``, nor are ignore rules and
    ``[tickets] automated_mail = ignore``. The automated-mail checks stay (no reply to it)."""

    not_spam: bool = False
    not_ignored: bool = False


NO_OVERRULE = Overrule()


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


def keep(source: Delivered, raw: bytes, sha: str, kind: str, detail: str, now: datetime) -> None:
    """Keep the bytes of a spam or ignored mail no folder holds, status kept, in the caller's
    transaction (its receipt is written there too). Its size is bounded by the mailbox's
    max_message_bytes: LMTP refuses and ``ingest`` quarantines a larger mail unread."""
    reason = detail if detail.startswith(kind) else f"{kind}: {detail}"
    QuarantineItem.create(
        mailbox=source.mailbox,
        uidvalidity=source.uidvalidity,
        uid=source.uid,
        sha256=sha,
        rfc822=raw,
        size=len(raw),
        reason=reason[:2000],
        status=QuarantineStatus.KEPT,
        created_at=now,
    )


def held() -> list[QuarantineItem]:
    return list(
        QuarantineItem.select()
        .where(QuarantineItem.status == QuarantineStatus.HELD)
        .order_by(QuarantineItem.id)
    )
