"""The outbox counts the budgets compare (``budgets``), read from the store, or within a group
of messages (the poll's and LMTP's ``Pipeline.process_batch``) read once and then kept current
by this process.

Every count is of outbox rows created in the last hour: automatic mail to one address, automatic
mail From one mailbox address, notifications to one agent, and any mail but warnings to one
address about one ticket. In a group (``counting``), a count read once is remembered and raised
by one for every row this thread queues that it covers (``queued``, from the one place outbox
rows are made, saved then or, for a letter made ahead, at the group's end: ``budgets`` reads
every count a row is in before it is queued), and a savepoint rolled back takes its rows' counts
back (``mark``/``restore``): the counts a group sees are the ones the store would give, but for
rows other workers commit during the group (under a second: at most one group's mail over a
budget) and rows leaving the hour meanwhile (counted a little longer, on the safe side). A
suppression (a bounce) is always read from the store: a bounce earlier in the group must hold
back the mail after it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from mailtix.store.lookups import execute

WARNING = "unverified"
NOTIFICATION = "notification"

Key = tuple[Any, ...]

_PARTS: dict[str, str] = {  # each on its own index, as the separate lookups in store.lookups
    "to": "(SELECT COUNT(*) FROM outbox WHERE recipient_key = ? AND automatic = ? "
    "AND created_at > ?)",
    "from": "(SELECT COUNT(*) FROM outbox WHERE envelope_from = ? AND automatic = ? "
    "AND created_at > ?)",
    "notified": "(SELECT COUNT(*) FROM outbox WHERE recipient_key = ? AND created_at > ? "
    "AND kind = ?)",
    "ticket": "(SELECT COUNT(*) FROM outbox WHERE recipient_key = ? AND ticket_id = ? "
    "AND kind <> ? AND created_at > ?)",
}
_SUPPRESSED = (
    "(SELECT COUNT(*) FROM (SELECT 1 FROM suppression WHERE address = ? AND created_at > ? "
    "LIMIT 1) AS s)"
)
_SQL: dict[tuple[bool, tuple[str, ...]], str] = {}


class _Local(threading.local):
    counts: dict[Key, int] | None = None


_local = _Local()


@contextmanager
def counting() -> Iterator[None]:
    """Remember the counts read until the block ends (one group's transaction)."""
    outer = _local.counts
    _local.counts = {}
    try:
        yield
    finally:
        _local.counts = outer


def mark() -> dict[Key, int] | None:
    """The counts as they are now (before a savepoint)."""
    return dict(_local.counts) if _local.counts is not None else None


def restore(marked: dict[Key, int] | None) -> None:
    """The counts as ``mark`` found them (the savepoint was rolled back)."""
    if _local.counts is not None and marked is not None:
        _local.counts = marked


def read(
    keys: Sequence[Key], since: datetime, *, bounced: tuple[str, datetime] | None = None
) -> tuple[bool, dict[str, int]]:
    """Whether ``bounced`` (address, since when) was given and that address bounced since
    then; the count of each of ``keys`` since ``since``, by its kind ("to", "from",
    "notified", "ticket"): the remembered ones from memory, the rest in one statement."""
    cache = _local.counts
    found = {key[0]: cache[key] for key in keys if cache is not None and key in cache}
    missing = [key for key in keys if key[0] not in found]
    if not missing and bounced is None:
        return False, found
    kinds = (bounced is not None, tuple(key[0] for key in missing))
    sql = _SQL.get(kinds)
    if sql is None:
        parts = ([_SUPPRESSED] if bounced is not None else []) + [_PARTS[k] for k in kinds[1]]
        sql = _SQL[kinds] = "SELECT " + ", ".join(parts)
    params: list[Any] = list(bounced) if bounced is not None else []
    for key in missing:
        params += _params(key, since)
    values = list(execute(sql, params).fetchone())
    was_bounced = bool(values.pop(0)) if bounced is not None else False
    for key, value in zip(missing, values, strict=True):
        found[key[0]] = int(value)
        if cache is not None:
            cache[key] = int(value)
    return was_bounced, found


def to(recipient: str) -> Key:
    """Automatic mail to ``recipient``."""
    return ("to", recipient)


def sent_from(sender: str) -> Key:
    """Automatic mail From the mailbox address ``sender``."""
    return ("from", sender)


def notified(agent: str) -> Key:
    """Notifications to ``agent``."""
    return ("notified", agent)


def about(recipient: str, ticket: int) -> Key:
    """Any mail but warnings to ``recipient`` about ``ticket``."""
    return ("ticket", recipient, ticket)


def queued(kind: str, automatic: bool, recipient: str, sender: str, ticket: int | None) -> None:
    """An outbox row was made: the remembered counts it belongs to go up by one."""
    cache = _local.counts
    if not cache:
        return
    covered = [to(recipient), sent_from(sender)] if automatic else []
    if kind == NOTIFICATION:
        covered.append(notified(recipient))
    if kind != WARNING and ticket is not None:
        covered.append(about(recipient, ticket))
    for key in covered:
        if key in cache:
            cache[key] += 1


def _params(key: Key, since: datetime) -> list[Any]:
    """The parameters of ``_PARTS[key[0]]``."""
    kind, who = key[0], key[1]
    if kind in ("to", "from"):
        return [who, True, since]
    if kind == "notified":
        return [who, since, NOTIFICATION]
    return [who, key[2], WARNING, since]
