"""How many mails each SMTP account sent in the last minute, kept in the store so that every
worker sending through one account (processes, hosts, on SQLite or PostgreSQL) shares its
``max_per_minute``: a sliding window of one minute, counted per second.

One row per account (``SendPace``) holds the counts of the last 61 seconds as JSON, so a
reservation is one read and one conditional write of a small row, whatever the limit. The write
only lands if no other worker wrote since the read (a version number), else it is tried again:
portable, no lock held beyond that one transaction. A second of a send is counted as a whole
(the window is 61 seconds wide), so no 60 seconds ever see more than the limit. Kept
crash-safe, not power-loss-safe (``relaxed_transaction``): a reservation lost to a power loss
could let one minute's worth go out early once.

``admit`` is the decision, pure; ``reserve`` reads, decides and writes.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from mailtix.store.durability import relaxed_transaction
from mailtix.store.lookups import execute
from mailtix.store.models import SendPace

log = logging.getLogger(__name__)

WINDOW_SECONDS = 61  # a send in second s counts until s + 61: no 60 s see more
MAX_TRIES = 20  # reservations lost to other workers' writes before giving up for now


def admit(
    counts: dict[int, int], second: int, limit: int, wanted: int
) -> tuple[int, dict[int, int], int]:
    """How many of ``wanted`` sends may go at ``second`` (epoch) under ``limit`` a minute, the
    counts with them added (older seconds dropped), and the second at which one more may go
    (``second`` itself when the window is not full after them)."""
    kept = {s: n for s, n in counts.items() if s > second - WINDOW_SECONDS and n > 0}
    granted = max(0, min(wanted, limit - sum(kept.values())))
    if granted:
        kept[second] = kept.get(second, 0) + granted
    return granted, kept, _free_at(kept, second, limit)


def _free_at(counts: dict[int, int], second: int, limit: int) -> int:
    """The first second at which the window holds fewer than ``limit`` sends."""
    excess = sum(counts.values()) - limit + 1  # sends that must leave the window first
    for sent_at in sorted(counts):
        if excess <= 0:
            break
        excess -= counts[sent_at]
        if excess <= 0:
            return max(second, sent_at + WINDOW_SECONDS)
    return second


def reserve(account: str, now: datetime, limit: int, wanted: int) -> tuple[int, datetime]:
    """Reserve up to ``wanted`` sends through ``account`` now; how many were granted, and when
    the next one may go (``now`` if the window has room)."""
    second = epoch_second(now)
    SendPace.insert(account=account).on_conflict_ignore().execute()
    for _ in range(MAX_TRIES):
        with relaxed_transaction():
            row = execute(
                "SELECT sends, version FROM send_pace WHERE account = ?", [account]
            ).fetchone()
            counts = _counts(row[0])
            granted, kept, free = admit(counts, second, limit, wanted)
            if not granted:
                return 0, _at(free, now)
            written = execute(
                "UPDATE send_pace SET sends = ?, version = version + 1 "
                "WHERE account = ? AND version = ?",
                [json.dumps(kept), account, row[1]],
            ).rowcount
        if written == 1:
            return granted, _at(free, now)
    return 0, now + timedelta(seconds=1)  # others won every race: try again in a moment


def _counts(text: str | None) -> dict[int, int]:
    """The row's counts; an unreadable row (edited by hand) counts as empty, is logged, and
    is overwritten by the next reservation."""
    try:
        return {int(s): int(n) for s, n in json.loads(text or "{}").items()}
    except (ValueError, TypeError, AttributeError):
        log.warning("send_pace: unreadable counts %r; counting from zero", (text or "")[:80])
        return {}


def epoch_second(moment: datetime) -> int:
    """A naive UTC datetime (the store's) as whole seconds since the epoch."""
    return int(moment.replace(tzinfo=UTC).timestamp())


def _at(second: int, now: datetime) -> datetime:
    if second <= epoch_second(now):
        return now
    return datetime.fromtimestamp(second, UTC).replace(tzinfo=None)
