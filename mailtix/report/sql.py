"""The little SQL that differs between SQLite and PostgreSQL, and running a report query.

Report queries are plain SQL built with ``dialect.p["name"]`` for each named parameter (the
driver's placeholder style); ``Dialect.run`` streams the result rows (tuples, never models).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from peewee import Database

from mailtix.store.db import is_postgres


def words(values: Iterable[StrEnum]) -> str:
    """``'resolved', 'closed'``: vocabulary words written into a query (``IN (...)``)."""
    return ", ".join(f"'{value.value}'" for value in values)


class _Placeholders:
    """``p["name"]`` is ``:name`` (sqlite3) or ``%(name)s`` (psycopg2)."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres

    def __getitem__(self, name: str) -> str:
        return f"%({name})s" if self.postgres else f":{name}"


class Dialect:
    """SQL fragments for the store's database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.postgres = is_postgres(db)
        self.p = _Placeholders(self.postgres)

    def seconds(self, start: str, end: str) -> str:
        """Seconds from ``start`` to ``end`` (two timestamp expressions) as a number."""
        if self.postgres:
            return f"EXTRACT(EPOCH FROM ({end} - {start}))"
        # rounded to milliseconds: julianday's float error would put 3600 s at 3599.9999 s
        return f"ROUND((julianday({end}) - julianday({start})) * 86400.0, 3)"

    def hour_bucket(self, column: str) -> str:
        """``YYYY-MM-DD HH`` (UTC) of a timestamp column, for counting by hour."""
        if self.postgres:
            return f"to_char({column}, 'YYYY-MM-DD HH24')"
        return f"strftime('%Y-%m-%d %H', {column})"

    def value(self, item: object) -> object:
        """A parameter as the driver wants it (SQLite compares timestamps as Peewee's text)."""
        if isinstance(item, datetime) and not self.postgres:
            return item.isoformat(sep=" ")
        return item

    def run(self, sql: str, params: Mapping[str, Any]) -> Iterator[tuple[Any, ...]]:
        """Execute ``sql`` and yield its rows, a batch at a time."""
        values = {k: self.value(v) for k, v in params.items()}
        cursor = self.db.execute_sql(sql, values)
        while True:
            rows = cursor.fetchmany(2000)
            if not rows:
                return
            yield from (tuple(r) for r in rows)
