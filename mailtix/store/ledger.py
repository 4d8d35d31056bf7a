"""The ingest ledger: one receipt per message a mailbox delivered, whatever became of it, keyed
by mailbox, UIDVALIDITY and UID, with the SHA-256 of its bytes (the caller commits); a
group of messages sharing one transaction writes its receipts in one statement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from mailtix.store.models import Receipt
from mailtix.store.statements import insert_row, insert_rows


class Delivered(Protocol):
    """Where a message came from (``desks.outcome.Source``)."""

    @property
    def mailbox(self) -> str: ...
    @property
    def uidvalidity(self) -> int: ...
    @property
    def uid(self) -> int | None: ...


def receipt_row(
    source: Delivered, sha256: str, outcome: str, detail: str, ticket: int | None, now: datetime
) -> dict[str, object]:
    return {
        "mailbox": source.mailbox, "uidvalidity": source.uidvalidity, "uid": source.uid,
        "sha256": sha256, "outcome": outcome, "detail": detail[:2000], "ticket": ticket,
        "created_at": now,
    }  # fmt: skip


def add_receipt(
    source: Delivered, sha256: str, outcome: str, detail: str, ticket: int | None, now: datetime
) -> None:
    insert_row(Receipt, receipt_row(source, sha256, outcome, detail, ticket, now))


def add_receipts(rows: Sequence[Mapping[str, object]]) -> None:
    """The receipts of a group of messages (``receipt_row``), in one statement."""
    insert_rows(Receipt, rows)
