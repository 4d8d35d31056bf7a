"""The full-text index over messages (subject and text) and the searches on it: the one module
that knows it exists (``#find``, ``mailtix tickets search``).

SQLite: an FTS5 table with external content (``message`` itself: no text is stored twice),
kept current by triggers on every insert, update of subject/text and delete of a message,
whoever does it (a merge moving messages, an erase rewriting or deleting them needs no call
here). A group of messages handled in one transaction (``indexed_at_end``) indexes the
messages it adds in one statement at its end instead, far cheaper than a trigger a row, and a
letter's record, stored empty and filled before the commit, is indexed once, with its text.
PostgreSQL: a generated column ``search_vector`` (``to_tsvector('simple', subject || text)``,
stored, so PostgreSQL itself keeps it current) with a GIN index: over 100,000
tickets a common word took 38-1,400 ms with only an expression index (rechecks recompute the
vector) and 1-24 ms with the stored one. ``create_index`` builds it (new stores and the schema
step), ``rebuild`` fills it from existing messages.

A search is words, all of them somewhere in one message, each a whole word ("print" does not
find "printer") unless it ends in ``*`` (``print*`` does: a prefix costs more, as every word
starting so is looked up); at most ``MAX_WORDS`` words, only letters and digits count.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from peewee import Database, PostgresqlDatabase

from mailtix.store.lookups import execute
from mailtix.store.models import database_proxy

MAX_WORDS = 10
MAX_WORD = 60
WORD = re.compile(r"\w+\*?")
TABLE = "message_search"
PAGE = 500  # matching messages read at a time
MAX_PAGES = 20  # then the tickets found so far are the answer (one ticket with 10,000 hits)
MAX_ROW_ID = 2**63 - 1
PENDING = f"{TABLE}_pending"  # the first message id of each group indexing at its end
# Rows from the first id of an open group on are the group's to index; the triggers do the rest.
_OUTSIDE = f"(SELECT coalesce(min(first_id), {MAX_ROW_ID}) FROM {PENDING})"
PG_VECTOR = "to_tsvector('simple', coalesce(subject, '') || ' ' || coalesce(text, ''))"

SQLITE_SCHEMA = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5(subject, text, content='message', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    f"CREATE TABLE IF NOT EXISTS {PENDING} (first_id INTEGER NOT NULL)",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_insert AFTER INSERT ON message "
    f"WHEN new.id < {_OUTSIDE} BEGIN "
    f"INSERT INTO {TABLE} (rowid, subject, text) VALUES (new.id, new.subject, new.text); END",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_delete AFTER DELETE ON message "
    f"WHEN old.id < {_OUTSIDE} BEGIN "
    f"INSERT INTO {TABLE} ({TABLE}, rowid, subject, text) "
    "VALUES ('delete', old.id, old.subject, old.text); END",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_update AFTER UPDATE OF subject, text ON message "
    f"WHEN old.id < {_OUTSIDE} BEGIN "
    f"INSERT INTO {TABLE} ({TABLE}, rowid, subject, text) "
    "VALUES ('delete', old.id, old.subject, old.text); "
    f"INSERT INTO {TABLE} (rowid, subject, text) VALUES (new.id, new.subject, new.text); END",
)
SQLITE_PAGE = (
    f"SELECT s.rowid, m.ticket_id FROM {TABLE} s JOIN message m ON m.id = s.rowid "
    f"WHERE {TABLE} MATCH ? AND s.rowid < ? ORDER BY s.rowid DESC LIMIT ?"
)
PG_PAGE = (
    "SELECT id, ticket_id FROM message WHERE search_vector @@ to_tsquery('simple', ?) "
    "AND id < ? ORDER BY id DESC LIMIT ?"
)
PG_SCHEMA = (
    "ALTER TABLE message ADD COLUMN IF NOT EXISTS search_vector tsvector "
    f"GENERATED ALWAYS AS ({PG_VECTOR}) STORED",
    f"CREATE INDEX IF NOT EXISTS {TABLE} ON message USING gin (search_vector)",
)


def create_index(db: Database) -> None:
    """The index (and, on SQLite, the triggers that keep it current); idempotent."""
    for statement in PG_SCHEMA if isinstance(db, PostgresqlDatabase) else SQLITE_SCHEMA:
        db.execute_sql(statement)


def recreate_triggers(db: Database) -> None:
    """The triggers as ``SQLITE_SCHEMA`` has them now, and the table they consult (SQLite)."""
    if not isinstance(db, PostgresqlDatabase):
        for name in ("insert", "delete", "update"):
            db.execute_sql(f"DROP TRIGGER IF EXISTS {TABLE}_{name}")
        create_index(db)


@contextmanager
def indexed_at_end() -> Iterator[None]:
    """Inside a transaction: the messages added in the block are indexed at its end, in one
    statement, with the subject and text they have then (SQLite; on PostgreSQL the store keeps
    the vector itself). The mark telling the triggers so is a row of the transaction: rolled
    back with it, never seen by another connection. Updates and deletes of older messages are
    still indexed by the triggers as they happen."""
    db = database_proxy.obj
    if isinstance(db, PostgresqlDatabase):
        yield
        return
    if not db.in_transaction():
        raise RuntimeError("indexed_at_end needs an open transaction")
    first = int(db.execute_sql(_OPEN).fetchone()[0])
    try:
        yield
    finally:
        db.execute_sql(f"DELETE FROM {PENDING} WHERE first_id = ?", (first,))
        db.execute_sql(_INDEX_FROM, (first,))


_OPEN = (
    f"INSERT INTO {PENDING} (first_id) SELECT coalesce(max(id), 0) + 1 FROM message "
    "RETURNING first_id"
)
# up to where an enclosing group's rows start (they are its to index), else every row
_INDEX_FROM = (
    f"INSERT INTO {TABLE} (rowid, subject, text) SELECT id, subject, text FROM message "
    f"WHERE id >= ? AND id < {_OUTSIDE}"
)


def rebuild(db: Database) -> None:
    """Fill the index from the messages already stored (SQLite; PostgreSQL's index is built
    by CREATE INDEX)."""
    if not isinstance(db, PostgresqlDatabase):
        db.execute_sql(f"INSERT INTO {TABLE} ({TABLE}) VALUES ('rebuild')")


def forget_deleted(db: Database) -> None:
    """After an erase: rewrite the SQLite index so no word of a deleted or rewritten message
    stays in its pages (the triggers only mark them deleted until FTS5 merges segments).
    PostgreSQL rewrites ``search_vector`` with the row; VACUUM reclaims the old row."""
    if not isinstance(db, PostgresqlDatabase):
        db.execute_sql(f"INSERT INTO {TABLE} ({TABLE}) VALUES ('optimize')")


def search_words(query: str) -> list[str]:
    """The words of ``query`` a search uses."""
    return [_cut(w) for w in WORD.findall(query)][:MAX_WORDS]


def _cut(word: str) -> str:
    star = "*" if word.endswith("*") else ""
    return word.rstrip("*")[:MAX_WORD] + star


def matching_tickets(query: str, limit: int) -> list[int]:
    """Ids of up to ``limit`` tickets with a message matching every word of ``query``, the
    ticket with the newest such message first. Matches are read newest first a page at a
    time, so a common word costs a page or two, not every message that has it."""
    words = search_words(query)
    if not words:
        return []
    if isinstance(database_proxy.obj, PostgresqlDatabase):
        terms = (w.lower().replace("*", ":*") for w in words)
        sql, expression = PG_PAGE, " & ".join(terms)
    else:  # \w+ and a star: no quote inside
        terms = (f'"{w[:-1]}"*' if w.endswith("*") else f'"{w}"' for w in words)
        sql, expression = SQLITE_PAGE, " ".join(terms)
    found: dict[int, None] = {}
    below = MAX_ROW_ID
    for _ in range(MAX_PAGES):
        if len(found) >= limit:
            break
        rows = execute(sql, [expression, below, PAGE]).fetchall()
        for message_id, ticket_id in rows:
            found.setdefault(int(ticket_id))
            below = int(message_id)
        if len(rows) < PAGE:
            break
    return list(found)[:limit]
