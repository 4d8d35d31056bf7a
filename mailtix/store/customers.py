"""Reads and writes of customer records (callers own the transaction).

``seen`` is what the pipeline calls: one upsert for all the people of one mail (first seen is
kept, last seen moves on, a name is only filled in where the record has none, so a mail cannot
rename a customer an admin imported). ``import_customer`` is what ``mailtix customers import``
calls for one CSV row. ``customers_from_tickets`` is the schema migration's backfill.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from peewee import Database

from mailtix.domain.addresses import address_key
from mailtix.store.models import Customer, Ticket

MAX_PEOPLE = 50  # people of one mail recorded at once (the desk takes at most 20 Cc'd)


def find_customer(email: str) -> Customer | None:
    """The record of ``email`` (compared by its key), or None."""
    return Customer.get_or_none(Customer.key == address_key(email))


@dataclass(frozen=True)
class Facts:
    """What routing needs of a customer record (read without building a model)."""

    organisation: str | None
    tags: tuple[str, ...]
    language: str


def customer_facts(email: str) -> Facts | None:
    """The organisation, tags and language of ``email``'s record, or None: one indexed
    SELECT without a query builder (this runs for every new ticket)."""
    db = _database()
    q = str(db.quote)
    organisation, tags, language, table, key = (
        f"{q[0]}{name}{q[1]}" for name in ("organisation", "tags", "language", "customer", "key")
    )
    sql = f"SELECT {organisation}, {tags}, {language} FROM {table} WHERE {key} = {db.param}"
    row = db.execute_sql(sql, (address_key(email),)).fetchone()
    if row is None:
        return None
    return Facts(row[0], tuple(Customer.tags.python_value(row[1])), row[2] or "")


def seen(people: Sequence[tuple[str, str]], now: datetime) -> None:
    """Record that these ``(email, display name)`` wrote or were copied at ``now``: one
    INSERT … ON CONFLICT for all of them (SQLite ≥ 3.24 and PostgreSQL), its SQL built once
    per number of people."""
    rows: dict[str, tuple[object, ...]] = {}
    stamp = Customer.last_seen.db_value(now)
    for email, name in people[:MAX_PEOPLE]:
        key = address_key(email)
        if key and key not in rows:
            rows[key] = (key, email.strip().lower(), name, "", "[]", stamp, stamp)
    if not rows:
        return
    db = _database()
    params = [value for row in rows.values() for value in row]
    db.execute_sql(_upsert_sql(db, len(rows)), params)


_SQL: dict[tuple[str, int], str] = {}
_UPSERT_COLUMNS = ("key", "email", "name", "language", "tags", "first_seen", "last_seen")


def _database() -> Database:
    found = Customer._meta.database
    return found.obj if hasattr(found, "obj") else found


def _upsert_sql(db: Database, count: int) -> str:
    cache = (type(db).__name__, count)
    sql = _SQL.get(cache)
    if sql is None:
        q = str(db.quote)
        name = [f"{q[0]}{c}{q[1]}" for c in (*_UPSERT_COLUMNS, "customer")]
        marks = "(" + ", ".join([db.param] * len(_UPSERT_COLUMNS)) + ")"
        table, key, nm, last = name[-1], name[0], name[2], name[6]
        sql = (
            f"INSERT INTO {table} ({', '.join(name[:-1])}) VALUES {', '.join([marks] * count)} "
            f"ON CONFLICT ({key}) DO UPDATE SET {last} = EXCLUDED.{last}, "
            f"{nm} = CASE WHEN {table}.{nm} = '' THEN EXCLUDED.{nm} ELSE {table}.{nm} END"
        )
        _SQL[cache] = sql
    return sql


@dataclass(frozen=True)
class ImportRow:
    """One validated row of a customers CSV; empty fields leave the record's value alone."""

    email: str
    name: str = ""
    organisation: str = ""
    language: str = ""
    tags: tuple[str, ...] = ()


def import_customer(row: ImportRow, now: datetime) -> str:
    """Create or update the record of ``row``; "created", "updated" or "unchanged"."""
    found = find_customer(row.email)
    if found is None:
        Customer.create(
            key=address_key(row.email), email=row.email, name=row.name,
            language=row.language, tags=list(row.tags), organisation=row.organisation or None,
            first_seen=now, last_seen=now,
        )  # fmt: skip
        return "created"
    wanted = {
        "name": row.name or found.name,
        "language": row.language or found.language,
        "organisation": row.organisation or found.organisation,
        "tags": list(row.tags) if row.tags else list(found.tags),
    }
    if all(getattr(found, k) == v for k, v in wanted.items()):
        return "unchanged"
    Customer.update(**wanted).where(Customer.id == found.id).execute()
    return "updated"


@dataclass(frozen=True)
class TicketLine:
    id: int
    status: str
    subject: str


def open_tickets_of(
    email: str, statuses: Iterable[str], *, exclude: int | None = None, limit: int = 10
) -> list[TicketLine]:
    """The newest tickets of the customer ``email`` in ``statuses`` (not ``exclude``): one
    SELECT on the (customer, status) index, without a query builder (every notification)."""
    db = _database()
    wanted = list(statuses)
    q = str(db.quote)
    table, id_, status, subject, customer = (
        f"{q[0]}{name}{q[1]}" for name in ("ticket", "id", "status", "subject", "customer")
    )
    marks = ", ".join([db.param] * len(wanted))
    sql = (
        f"SELECT {id_}, {status}, {subject} FROM {table} WHERE {customer} = {db.param} "
        f"AND {status} IN ({marks}) AND {id_} <> {db.param} ORDER BY {id_} DESC LIMIT {int(limit)}"
    )
    params = [email.strip().lower(), *wanted, -1 if exclude is None else exclude]
    return [TicketLine(*row) for row in db.execute_sql(sql, params).fetchall()]


@dataclass
class _Earliest:
    email: str
    first: datetime
    last: datetime
    latest: int  # the id of their latest ticket, for the name


def customers_from_tickets(db: Database) -> int:
    """A record for every ticket customer that has none: first seen at their first ticket,
    last seen at their last, named as on their latest ticket. Returns how many were made."""
    known = {row[0] for row in db.execute_sql("SELECT key FROM customer").fetchall()}
    per_address = db.execute_sql(
        "SELECT customer, MIN(created_at), MAX(created_at), MAX(id) FROM ticket GROUP BY customer"
    ).fetchall()
    made: dict[str, _Earliest] = {}
    for email, first_text, last_text, latest in per_address:
        key = address_key(email or "")
        if not key or key in known:
            continue
        first, last = _when(first_text), _when(last_text)
        entry = made.setdefault(key, _Earliest(email.strip().lower(), first, last, latest))
        entry.first = min(entry.first, first)
        if last > entry.last:
            entry.email, entry.last, entry.latest = email.strip().lower(), last, latest
    items = list(made.items())
    for start in range(0, len(items), 500):
        chunk = items[start : start + 500]
        ids = [entry.latest for _, entry in chunk]
        query = Ticket.select(Ticket.id, Ticket.customer_name).where(Ticket.id.in_(ids))
        names: dict[int, str] = {t.id: t.customer_name for t in query}
        Customer.insert_many([
            {"key": key, "email": e.email, "name": names.get(e.latest, ""), "language": "",
             "tags": [], "first_seen": e.first, "last_seen": e.last}
            for key, e in chunk
        ]).execute()  # fmt: skip
    return len(items)


def _when(value: object) -> datetime:
    """A timestamp as raw SQL gives it (SQLite: text; PostgreSQL: a datetime)."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
