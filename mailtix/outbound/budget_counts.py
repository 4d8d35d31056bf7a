"""The outbox counts the budgets compare (``budgets``), read from the store, or within a group
of messages (the poll's and LMTP's ``Pipeline.process_batch``) read once and then kept current
by this process.

Every count is of outbox rows created in the last hour: automatic mail to one address, automatic
mail From one mailbox address, notifications to one agent, and any mail but warnings to one
address about one ticket. In a group (``counting``), a count read once is remembered and raised
by one for every row this thread queues that it covers (``queued``, from the one place outbox
rows are made), and a savepoint rolled back takes its rows' counts back (``mark``/``restore``):
the counts a group sees are the ones the store would give, but for rows other workers commit
during the group (under a second: at most one group's mail over a budget) and rows leaving the
hour meanwhile (counted a little longer, on the safe side). A suppression (a bounce) is always
read from the store: a bounce earlier in the group must hold back the mail after it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
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
    wanted: dict[str, Key], since: datetime, *, bounced: tuple[str, datetime] | None = None
) -> tuple[bool, dict[str, int]]:
    """Whether ``bounced`` (address, since when) was given and that address bounced since
    then; the counts of ``wanted`` (name -> key, see ``key``) since ``since``, the remembered
    ones from memory, the rest in one statement."""
    cache = _local.counts
    found = {name: cache[key] for name, key in wanted.items() if cache is not None and key in cache}
    missing = tuple(name for name in wanted if name not in found)
    suppressed = bounced is not None
    if not missing and not suppressed:
        return False, found
    sql = _SQL.get((suppressed, missing))
    if sql is None:
        parts = ([_SUPPRESSED] if suppressed else []) + [_PARTS[name] for name in missing]
        sql = _SQL[(suppressed, missing)] = "SELECT " + ", ".join(parts)
    params: list[Any] = []
    if bounced is not None:
        params += list(bounced)
    for name in missing:
        params += _params(name, wanted[name], since)
    row = execute(sql, params).fetchone()
    values = list(row)
    was_bounced = bool(values.pop(0)) if suppressed else False
    for name, value in zip(missing, values, strict=True):
        found[name] = int(value)
        if cache is not None:
            cache[wanted[name]] = int(value)
    return was_bounced, found


def key(name: str, recipient: str = "", sender: str = "", ticket: int | None = None) -> Key:
    """The key of one count: "to" (automatic mail to ``recipient``), "from" (automatic mail
    From ``sender``), "notified" (notifications to ``recipient``), "ticket" (mail but warnings
    to ``recipient`` about ``ticket``)."""
    if name == "from":
        return ("from", sender)
    if name == "ticket":
        return ("ticket", recipient, ticket)
    return (name, recipient)


def queued(kind: str, automatic: bool, recipient: str, sender: str, ticket: int | None) -> None:
    """An outbox row was made: the remembered counts it belongs to go up by one."""
    cache = _local.counts
    if not cache:
        return
    covered = []
    if automatic:
        covered += [key("to", recipient), key("from", sender=sender)]
    if kind == NOTIFICATION:
        covered.append(key("notified", recipient))
    if kind != WARNING and ticket is not None:
        covered.append(key("ticket", recipient, ticket=ticket))
    for name in covered:
        if name in cache:
            cache[name] += 1


def _params(name: str, what: Key, since: datetime) -> list[Any]:
    if name == "to":
        return [what[1], True, since]
    if name == "from":
        return [what[1], True, since]
    if name == "notified":
        return [what[1], since, NOTIFICATION]
    return [what[1], what[2], WARNING, since]
