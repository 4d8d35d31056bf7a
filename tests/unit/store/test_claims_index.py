"""A sender's reads of the rows it holds (``claims.held_by``, every refill of a drain) and of
the rows it may claim (``claims.take``, ``claims.anything_to_send``) are answered from indexes,
never from the outbox rows (each past its rfc822 blob)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from peewee import Database

from mailtix.store import claims
from mailtix.store.db import open_store


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    store = open_store(f"sqlite:///{tmp_path / 'mailtix.db'}")
    yield store
    store.close()


def test_the_rows_a_sender_holds_are_read_from_a_covering_index(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans: list[str] = []
    real = claims.execute

    def planned(sql: str, params: list[object]) -> object:
        rows = db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        plans.append(" ".join(str(row[-1]) for row in rows))
        return real(sql, params)

    monkeypatch.setattr(claims, "execute", planned)
    assert claims.held_by("host:1") == set()
    assert len(plans) == 1
    assert "COVERING INDEX outboxitem_status_claimed_by_claimed_at" in plans[0], plans


CLAIM_INDEXES = ("outboxitem_status_next_attempt_at", "outboxitem_status_claimed_by_claimed_at")
OLD_INDEXES = ("outboxitem_status", "outboxitem_status_claimed_by", "outboxitem_next_attempt_at")


def test_the_rows_a_sender_may_claim_are_found_in_indexes(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A due row, and one whose claim ran out or whose worker died, by the index of its
    status; then the claim itself by id."""
    plans: list[tuple[str, str]] = []
    real = claims.execute

    def planned(sql: str, params: list[object]) -> object:
        rows = db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        plans.append((sql, " ".join(str(row[-1]) for row in rows)))
        return real(sql, params)

    monkeypatch.setattr(claims, "execute", planned)
    now = datetime(2026, 12, 7, 12, 0)
    assert claims.take("host:1", now, timedelta(minutes=10), 20, ["host:2"]) == []
    assert claims.anything_to_send(now) is False
    (_, take), (_, anything) = plans
    assert "SCAN" not in take and "SCAN" not in anything, plans
    assert "INDEX outboxitem_status_next_attempt_at (status=? AND next_attempt_at<?)" in take
    assert "INDEX outboxitem_status_claimed_by_claimed_at (status=? AND claimed_by>?)" in take
    searches = [step for step in anything.split("SEARCH")[1:]]
    assert len(searches) == 2 and all("COVERING INDEX" in step for step in searches), anything


def test_every_count_and_claim_by_status_is_answered_from_an_index(
    db: Database, tmp_path: Path
) -> None:
    """(status) alone is gone (it was a prefix of (status, claimed_by)), and so are (status,
    claimed_by) and (next_attempt_at), for (status, claimed_by, claimed_at) and (status,
    next_attempt_at); no query by status reads the outbox table without one of those, in a new
    store and in one upgraded from before either change."""
    queries = (
        "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')",
        "SELECT COUNT(*) FROM outbox WHERE status = 'failed'",
        "SELECT status, COUNT(id) FROM outbox GROUP BY status",
        "SELECT id FROM outbox WHERE status = 'sending' OR "
        "(status = 'pending' AND next_attempt_at <= '2026-12-07') LIMIT 1",
        "UPDATE outbox SET status = 'pending' WHERE status IN ('pending', 'failed')",
    )
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = open_store(url)
    old.execute_sql('CREATE INDEX "outboxitem_status" ON "outbox" ("status")')
    old.execute_sql('CREATE INDEX "outboxitem_next_attempt_at" ON "outbox" ("next_attempt_at")')
    old.execute_sql('CREATE INDEX "outboxitem_status_claimed_by" ON "outbox" (status, claimed_by)')
    for index in CLAIM_INDEXES:
        old.execute_sql(f'DROP INDEX "{index}"')
    old.execute_sql("UPDATE schema_version SET version = version - 2")
    old.close()
    upgraded = open_store(url)
    try:
        for store in (db, upgraded):
            names = {r[0] for r in store.execute_sql("SELECT name FROM sqlite_master").fetchall()}
            assert not names & set(OLD_INDEXES)
            assert names >= set(CLAIM_INDEXES)
            for sql in queries:
                steps = [str(r[-1]) for r in store.execute_sql("EXPLAIN QUERY PLAN " + sql)]
                on_outbox = [step for step in steps if " outbox" in step]
                assert on_outbox and all(any(f"INDEX {index}" in step for index in CLAIM_INDEXES)
                                         for step in on_outbox), (sql, steps)  # fmt: skip
    finally:
        upgraded.close()
