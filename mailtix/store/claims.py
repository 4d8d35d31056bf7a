"""The outbox's claims in plain SQL: which rows a worker may take, taking them, finding the
ones it holds, renewing them, handing them back. ``outbox`` decides when; this module writes
the statements (portable, run through ``lookups.execute``; a drain runs them every few mails,
and composing them with peewee cost more than running them).

A claim sets status "sending" with the worker's id and the time. A row is claimable when it is
due ("pending" and its next attempt has come) or abandoned: claimed longer ago than the lease,
or by a worker known to be dead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailtix.store.durability import relaxed_transaction
from mailtix.store.lookups import execute
from mailtix.store.models import OutboxItem, database_proxy


@dataclass(frozen=True)
class Pending:
    """What sending an outbox row takes (the row itself is loaded only when it fails)."""

    id: int
    envelope_from: str
    recipients: list[str]
    rfc822: bytes


def load_pending(ids: Sequence[int]) -> list[Pending]:
    """The rows ``ids`` as Pending values, oldest first (building model objects for them cost
    ten times the query)."""
    if not ids:
        return []
    sql = f"SELECT id, envelope_from, recipients, rfc822 FROM outbox WHERE id IN ({_marks(ids)})"
    rows = execute(sql + " ORDER BY id", list(ids)).fetchall()
    return [Pending(int(i), str(e), list(json.loads(r or "[]")), bytes(b)) for i, e, r, b in rows]


def take(
    worker: str, now: datetime, lease: timedelta, limit: int, dead: Sequence[str]
) -> list[Pending]:
    """Claim up to ``limit`` claimable rows for ``worker``, oldest first. They are looked for
    outside any transaction; the write is one UPDATE of those still claimable (another worker
    may have taken some meanwhile: then the next ones), so the write lock of a SQLite store is
    held for a few index lookups, not for a search of the outbox."""
    abandoned = "claimed_at < ?" + (f" OR claimed_by IN ({_marks(dead)})" if dead else "")
    # claimed_by >= '' holds for every row (never NULL): a range on the second column of
    # (status, claimed_by, claimed_at), so the claimed rows are looked for in that index, whose
    # entries answer the rest, and not in (status, next_attempt_at), past each row's blob
    claimable = (
        "((status = 'pending' AND next_attempt_at <= ?) "
        f"OR (status = 'sending' AND claimed_by >= '' AND ({abandoned})))"
    )
    params = [now, now - lease, *dead]
    find = f"SELECT id FROM outbox WHERE {claimable} ORDER BY id LIMIT ?"
    while ids := [row[0] for row in execute(find, [*params, limit]).fetchall()]:
        update = (
            "UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_at = ? "
            f"WHERE id IN ({_marks(ids)}) AND {claimable} RETURNING id"
        )
        with relaxed_transaction():  # a claim lost to a power loss only makes rows due again
            taken = [row[0] for row in execute(update, [worker, now, *ids, *params]).fetchall()]
        if taken:  # else other workers took them all meanwhile: look again
            return load_pending(taken)
    return []


def anything_to_send(now: datetime) -> bool:
    """Whether a drain could find work: a row due, or one claimed by anyone (it may be a dead
    worker's, or carry a mark its journal still holds). One indexed read, for ``poll --once``
    to start no sender when the outbox has nothing for it."""
    sql = (
        "SELECT 1 FROM outbox WHERE status = 'sending' "
        "OR (status = 'pending' AND next_attempt_at <= ?) LIMIT 1"
    )
    return execute(sql, [now]).fetchone() is not None


def held_by(worker: str) -> set[int]:
    """The rows ``worker`` holds (read only: no claim needed for them)."""
    sql = "SELECT id FROM outbox WHERE status = 'sending' AND claimed_by = ?"
    return {row[0] for row in execute(sql, [worker]).fetchall()}


def renew(worker: str, now: datetime) -> None:
    """Move the claim time of every row ``worker`` holds to ``now``."""
    with relaxed_transaction():  # lost to a power loss: renewed again at the next chance
        sql = "UPDATE outbox SET claimed_at = ? WHERE status = 'sending' AND claimed_by = ?"
        execute(sql, [now, worker])


def claimants(host: str) -> list[str]:
    """The workers of ``host`` that hold claims (once per drain: peewee is fine here)."""
    rows = (
        OutboxItem.select(OutboxItem.claimed_by)
        .where((OutboxItem.status == "sending") & OutboxItem.claimed_by.startswith(f"{host}:"))
        .distinct()
    )
    return [row.claimed_by for row in rows]


def hand_back(ids: Sequence[int]) -> None:
    """Rows claimed but not tried: due again, for anyone."""
    if ids:
        with database_proxy.atomic():
            OutboxItem.update(status="pending", claimed_by="", claimed_at=None).where(
                OutboxItem.id.in_(list(ids)) & (OutboxItem.status == "sending")
            ).execute()


def wait_until(ids: Sequence[int], until: datetime) -> None:
    """Rows claimed but held back (their account's ``max_per_minute``): due again at
    ``until``, for anyone, with no attempt counted."""
    if ids:
        with relaxed_transaction():  # lost to a power loss: the row is only due sooner
            OutboxItem.update(
                status="pending", claimed_by="", claimed_at=None, next_attempt_at=until
            ).where(OutboxItem.id.in_(list(ids)) & (OutboxItem.status == "sending")).execute()


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))


def make_due(item_id: int | None, now: datetime) -> int:
    """Make one row (or every pending/failed row when None) due now; returns how many."""
    query = OutboxItem.update(status="pending", next_attempt_at=now)
    if item_id is None:
        return int(query.where(OutboxItem.status.in_(["pending", "failed"])).execute())
    return int(query.where(OutboxItem.id == item_id).execute())
