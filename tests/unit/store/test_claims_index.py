"""A sender's read of the rows it holds (``claims.held_by``, every refill of a drain) is
answered from an index, never from the outbox rows (each past its rfc822 blob)."""

from __future__ import annotations

from collections.abc import Iterator
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
    assert "COVERING INDEX outboxitem_status_claimed_by" in plans[0], plans


def test_every_count_and_claim_by_status_is_answered_from_an_index(
    db: Database, tmp_path: Path
) -> None:
    """(status) alone is gone (it was a prefix of (status, claimed_by)); no query by status
    reads the outbox table without an index, in a new store and in an upgraded one."""
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
    old.execute_sql("UPDATE schema_version SET version = version - 1")
    old.close()
    upgraded = open_store(url)
    try:
        for store in (db, upgraded):
            names = {r[0] for r in store.execute_sql("SELECT name FROM sqlite_master").fetchall()}
            assert "outboxitem_status" not in names
            for sql in queries:
                steps = [str(r[-1]) for r in store.execute_sql("EXPLAIN QUERY PLAN " + sql)]
                on_outbox = [step for step in steps if " outbox" in step]
                assert on_outbox and all("INDEX outboxitem_status_claimed_by" in step
                                         for step in on_outbox), (sql, steps)  # fmt: skip
    finally:
        upgraded.close()
