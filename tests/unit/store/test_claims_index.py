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
