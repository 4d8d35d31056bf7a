"""The SQLite full-text index as a test checks it (``store.search_index``)."""

from __future__ import annotations

import sqlite3

from mailtix.store.search_index import PENDING, TABLE


def whole_index(connection: sqlite3.Connection) -> int:
    """How many messages the index holds, once FTS5's integrity-check found it to agree with
    the messages (it raises otherwise) and no group's mark is left behind."""
    connection.execute(f"INSERT INTO {TABLE} ({TABLE}, rank) VALUES ('integrity-check', 1)")
    assert connection.execute(f"SELECT count(*) FROM {PENDING}").fetchone() == (0,)
    return int(connection.execute(f"SELECT count(*) FROM {TABLE}_docsize").fetchone()[0])
