"""A ticket merged into another (``#merge``) is counted once: as the survivor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from peewee import Database
from test_report import at, fill, report, ticket

from mailtix.config.lifecycle import SlaConfig
from mailtix.lifecycle.merge import merge
from mailtix.store import open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Database]:
    db = open_store(f"sqlite:///{tmp_path / 'report.db'}")
    fill()
    yield db
    db.close()


def test_a_merged_ticket_counts_only_as_its_survivor(store: Database, tmp_path: Path) -> None:
    before = report(store, tmp_path)
    survivor = ticket(at(6, 9), "general", "alice@example.com", answered=at(6, 10))
    duplicate = ticket(at(6, 11), "general", None, satisfaction=1)
    merge(duplicate, survivor, at(6, 12), prefix="SUP", sla=SlaConfig(), actor="alice")
    after = report(store, tmp_path)
    was, now = before["overall"], after["overall"]
    assert now["created"] == was["created"] + 1
    assert now["resolved"] == was["resolved"]  # the merge closed it: no resolution
    assert now["backlog"] == was["backlog"] + 1
    assert now["satisfaction"]["responses"] == was["satisfaction"]["responses"]
    [day] = [d for d in after["by_day"] if d["date"].startswith("2026-03-06")]
    assert (day["created"], day["resolved"]) == (1, 0)
