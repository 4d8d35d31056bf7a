"""The lookups every incoming message makes, in plain SQL written once.

Peewee composes a query's SQL on every call. For these, which run for every message a poll
reads, composing cost several times what SQLite needs to answer, so they are written out here.
The statements are portable (SQLite and PostgreSQL); only the placeholder differs (``execute``,
also used by ``sent_marks``). Values are
passed as the models' fields would pass them (datetimes and booleans as they are).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailtix.domain.vocabulary import Direction, MessageKind
from mailtix.store.models import database_proxy

_SQL: dict[tuple[str, str], str] = {}


def execute(sql: str, params: list[Any]) -> Any:
    """Run portable plain SQL written with ``?`` placeholders on the store; returns the cursor."""
    db = database_proxy.obj
    return db.execute_sql(_portable(sql, db.param), params)


def execute_many(sql: str, rows: Sequence[Sequence[Any]]) -> int:
    """``execute`` once for each of ``rows`` in one driver call; returns the rows changed."""
    db = database_proxy.obj
    cursor = db.cursor()
    cursor.executemany(_portable(sql, db.param), rows)
    return int(cursor.rowcount)


def _portable(sql: str, param: str) -> str:
    key = (sql, param)
    text = _SQL.get(key)
    if text is None:
        text = _SQL[key] = sql if param == "?" else sql.replace("?", param)
    return text


@dataclass(frozen=True)
class Seen:
    """An earlier receipt for a message: what became of it."""

    id: int
    uidvalidity: int
    uid: int | None
    outcome: str
    ticket_id: int | None


_RECEIPT = "SELECT id, uidvalidity, uid, outcome, ticket_id FROM receipt WHERE mailbox = ? AND "
RECEIPT_BY_UID = _RECEIPT + "uidvalidity = ? AND uid = ?"
RECEIPT_BY_BYTES = _RECEIPT + "sha256 = ? ORDER BY id LIMIT 1"
RECEIPT_BY_BYTES_NOT_QUARANTINED = (  # of a ticket: quarantined, spam or ignored ones are not
    _RECEIPT + "sha256 = ? AND (outcome IN ('ticket', 'followup') OR ticket_id IS NOT NULL) "
    "ORDER BY id LIMIT 1"
)


def receipt_for_uid(mailbox: str, uidvalidity: int, uid: int) -> Seen | None:
    row = execute(RECEIPT_BY_UID, [mailbox, uidvalidity, uid]).fetchone()
    return Seen(*row) if row else None


def receipt_for_bytes(mailbox: str, sha256: str, *, skip_quarantined: bool) -> Seen | None:
    """The first receipt for the same bytes (kept apart from the UID lookup: one WHERE with an
    OR over both made SQLite walk every receipt of the mailbox); ``skip_quarantined`` (a
    quarantine retry): the first that made or joined a ticket, so that a quarantined, spam or
    ignored mail (and its duplicates) is tried again."""
    sql = RECEIPT_BY_BYTES_NOT_QUARANTINED if skip_quarantined else RECEIPT_BY_BYTES
    row = execute(sql, [mailbox, sha256]).fetchone()
    return Seen(*row) if row else None


@dataclass(frozen=True)
class KnownReceipts:
    """The earlier receipts of a group of messages, looked up together (``known_receipts``)."""

    by_uid: dict[tuple[int, int], Seen]  # (uidvalidity, uid) -> its receipt
    by_bytes: dict[str, Seen]  # sha256 -> the first receipt for those bytes

    def for_uid(self, uidvalidity: int, uid: int) -> Seen | None:
        return self.by_uid.get((uidvalidity, uid))

    def for_bytes(self, sha256: str) -> Seen | None:
        return self.by_bytes.get(sha256)


def known_receipts(mailbox: str, uids: list[tuple[int, int]], sha256s: list[str]) -> KnownReceipts:
    """What ``receipt_for_uid`` and ``receipt_for_bytes`` (quarantined ones included) say of
    each of these messages, in a statement per UIDVALIDITY and one for the bytes."""
    by_uid: dict[tuple[int, int], Seen] = {}
    for uidvalidity in sorted({v for v, _ in uids}):
        wanted = [uid for v, uid in uids if v == uidvalidity]
        sql = _RECEIPT + f"uidvalidity = ? AND uid IN ({', '.join('?' * len(wanted))})"
        for row in execute(sql, [mailbox, uidvalidity, *wanted]).fetchall():
            by_uid.setdefault((int(row[1]), int(row[2])), Seen(*row))
    by_bytes: dict[str, Seen] = {}
    if sha256s:
        marks = ", ".join("?" * len(sha256s))
        sql = (
            "SELECT id, uidvalidity, uid, outcome, ticket_id, sha256 FROM receipt "
            f"WHERE mailbox = ? AND sha256 IN ({marks}) ORDER BY id"
        )
        for *row, sha in execute(sql, [mailbox, *sha256s]).fetchall():
            by_bytes.setdefault(str(sha), Seen(*row))
    return KnownReceipts(by_uid, by_bytes)


def count_attempt(mailbox: str, sha256: str, now: datetime) -> tuple[int, str]:
    """One more attempt at this message: (attempts so far, the last error recorded)."""
    sql = (
        "INSERT INTO ingest_attempt (mailbox, sha256, attempts, last_error, updated_at) "
        "VALUES (?, ?, 1, '', ?) ON CONFLICT (mailbox, sha256) DO UPDATE SET "
        "attempts = ingest_attempt.attempts + 1, updated_at = excluded.updated_at "
        "RETURNING attempts, last_error"
    )
    attempts, last_error = execute(sql, [mailbox, sha256, now]).fetchone()
    return int(attempts), str(last_error)


def count_first_attempts(mailbox: str, sha256s: list[str], now: datetime) -> set[str]:
    """A first attempt (attempts = 1) for each of ``sha256s`` never tried before, in one
    statement; returns those (a message tried before keeps its count untouched)."""
    if not sha256s:
        return set()
    values = ", ".join(["(?, ?, 1, '', ?)"] * len(sha256s))
    sql = (
        f"INSERT INTO ingest_attempt (mailbox, sha256, attempts, last_error, updated_at) "
        f"VALUES {values} ON CONFLICT (mailbox, sha256) DO NOTHING RETURNING sha256"
    )
    params = [value for sha in sha256s for value in (mailbox, sha, now)]
    return {str(row[0]) for row in execute(sql, params).fetchall()}


def copy_holder(message_id: str, sender: str, subject: str) -> int | None:
    """The ticket holding an incoming message with this Message-ID, sender and subject."""
    sql = (
        "SELECT ticket_id FROM message WHERE message_id = ? "
        f"AND direction = '{Direction.IN.value}' "
        "AND from_addr = ? AND subject = ? ORDER BY id LIMIT 1"
    )
    row = execute(sql, [message_id, sender, subject]).fetchone()
    return int(row[0]) if row else None


#: Messages whose Message-ID a ticket's customer and participants could have seen: what they
#: sent (customer, and automated mail that joined), what mailtix sent them (acknowledgements,
#: status mails, relayed answers). Never notes: an unverified note's Message-ID is the sender's
#: choice, and a real note's never left the desk.
THREADABLE_KINDS = (MessageKind.CUSTOMER, MessageKind.AGENT, MessageKind.AUTO)
THREADABLE_SQL = ", ".join(f"'{kind.value}'" for kind in THREADABLE_KINDS)  # for "kind IN (…)"


def thread_owners(ids: list[str]) -> list[tuple[str, int]]:
    """(Message-ID, ticket) for each of ``ids`` a customer-visible message has, newest first:
    one query on the message_id index."""
    marks = ", ".join("?" * len(ids))
    sql = (
        f"SELECT message_id, ticket_id FROM message WHERE message_id IN ({marks}) "
        f"AND kind IN ({THREADABLE_SQL}) ORDER BY id DESC"
    )
    return [(str(row[0]), int(row[1])) for row in execute(sql, ids).fetchall()]


def sent_mail(ticket_id: int, message_ids: list[str]) -> bytes | None:
    """The bytes of the newest mail mailtix sent about ``ticket_id`` under one of
    ``message_ids`` (the notification an agent answers), or None."""
    if not message_ids:
        return None
    marks = ", ".join("?" * len(message_ids))
    sql = (
        f"SELECT rfc822 FROM outbox WHERE message_id IN ({marks}) AND ticket_id = ? "
        "ORDER BY id DESC LIMIT 1"
    )
    row = execute(sql, [*message_ids, ticket_id]).fetchone()
    return bytes(row[0]) if row else None


def outbox_message_ids(ticket_id: int, kind: str) -> set[str]:
    """The Message-IDs of the mails of ``kind`` queued about ``ticket_id`` (a survey's, to
    know an answer to it: every reply asks)."""
    sql = "SELECT message_id FROM outbox WHERE ticket_id = ? AND kind = ?"
    return {str(row[0]) for row in execute(sql, [ticket_id, kind]).fetchall()}


def is_suppressed(address: str, since: datetime) -> bool:
    """Whether ``address`` bounced permanently after ``since`` (older suppressions expired)."""
    sql = "SELECT 1 FROM suppression WHERE address = ? AND created_at > ? LIMIT 1"
    return execute(sql, [address, since]).fetchone() is not None


def automatic_mails_since(recipient: str, since: datetime) -> int:
    sql = "SELECT COUNT(*) FROM outbox WHERE recipient_key = ? AND automatic = ? AND created_at > ?"
    return int(execute(sql, [recipient, True, since]).fetchone()[0])


def automatic_mails_from_since(sender: str, since: datetime) -> int:
    """Automatic mails From the address ``sender`` (one mailbox) queued since ``since``."""
    sql = "SELECT COUNT(*) FROM outbox WHERE envelope_from = ? AND automatic = ? AND created_at > ?"
    return int(execute(sql, [sender, True, since]).fetchone()[0])


def ticket_mails_since(ticket_id: int, recipient: str, since: datetime, kind: str) -> int:
    """Mails to ``recipient`` about one ticket since ``since``, of any kind but ``kind``."""
    sql = (
        "SELECT COUNT(*) FROM outbox WHERE recipient_key = ? AND ticket_id = ? "
        "AND kind <> ? AND created_at > ?"
    )
    return int(execute(sql, [recipient, ticket_id, kind, since]).fetchone()[0])


def mails_of_kind_since(kind: str, recipient: str, since: datetime) -> tuple[int, datetime | None]:
    """How many mails of ``kind`` went to ``recipient`` since ``since``, and when the last did
    (at any time)."""
    sql = (  # both on the (recipient_key, created_at) index: the hour, and the newest row
        "SELECT (SELECT COUNT(*) FROM outbox WHERE recipient_key = ? AND created_at > ? "
        "AND kind = ?), (SELECT created_at FROM outbox WHERE recipient_key = ? AND kind = ? "
        "ORDER BY created_at DESC LIMIT 1)"
    )
    count, last = execute(sql, [recipient, since, kind, recipient, kind]).fetchone()
    return int(count), _as_datetime(last)


def held_since(template: str, recipient: str, why: str, since: datetime | None) -> int:
    """Mails from ``template`` to ``recipient`` a budget held back for ``why`` since ``since``
    (None: ever), counted by the typed columns of their ``suppressed`` events."""
    sql = (
        "SELECT COUNT(*) FROM event WHERE type = 'suppressed' AND field = ? AND new_value = ?"
        " AND reason = ?"
    )
    params: list[Any] = [template, recipient, why]
    if since is not None:
        sql, params = sql + " AND at > ?", [*params, since]
    return int(execute(sql, params).fetchone()[0])


def _as_datetime(value: Any) -> datetime | None:
    """A timestamp as SQLite (text) or PostgreSQL (datetime) returns it."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def is_participant(ticket_id: int, email: str) -> bool:
    sql = "SELECT 1 FROM participant WHERE ticket_id = ? AND email = ? LIMIT 1"
    return execute(sql, [ticket_id, email]).fetchone() is not None
