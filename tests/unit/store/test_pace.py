"""``store.pace``: sends per SMTP account in a sliding minute, kept in the store so that every
worker shares one ``max_per_minute``: the pure decision, the store round trip, and workers in
separate processes reserving at the same moment (SQLite here; PostgreSQL when reachable)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from peewee import Database

from mailtix.store import pace
from mailtix.store.db import open_store
from mailtix.store.models import SendPace

NOW = datetime(2026, 11, 23, 10, 0, 0)
T = pace.epoch_second(NOW)
REPO = Path(__file__).resolve().parents[3]


def test_a_full_minute_admits_nothing_until_its_oldest_send_is_61_seconds_old() -> None:
    granted, counts, free = pace.admit({}, T, 5, 3)
    assert (granted, counts, free) == (3, {T: 3}, T)
    granted, counts, free = pace.admit(counts, T + 10, 5, 4)
    assert (granted, counts) == (2, {T: 3, T + 10: 2})
    assert free == T + 61  # the three of second T must leave before one more
    assert pace.admit(counts, T + 60, 5, 1)[0] == 0  # 60 s later: still inside the window
    granted, counts, free = pace.admit(counts, T + 61, 5, 9)
    assert (granted, counts) == (3, {T + 10: 2, T + 61: 3})
    assert free == T + 71


def test_one_send_leaving_is_enough_for_one_more() -> None:
    counts = {T: 1, T + 1: 1, T + 2: 1}
    assert pace.admit(counts, T + 5, 3, 1)[::2] == (0, T + 61)
    assert pace.admit(counts, T + 61, 3, 5)[0] == 1


def test_no_sixty_seconds_ever_see_more_than_the_limit() -> None:
    """Workers asking at random moments for random numbers of sends, for ten minutes."""
    import random

    rng = random.Random(7)
    counts: dict[int, int] = {}
    sent: list[int] = []
    for second in sorted(T + rng.randrange(600) for _ in range(3000)):
        granted, counts, _ = pace.admit(counts, second, 30, rng.randrange(1, 9))
        sent += [second] * granted
    worst = max(sum(1 for s in sent if start <= s < start + 60) for start in range(T, T + 600))
    assert worst == 30
    print(f"\npace: {len(sent)} sends in 10 minutes at 30/min, busiest 60 s held {worst}")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    store = open_store(f"sqlite:///{tmp_path / 'mailtix.db'}")
    yield store
    store.close()


def test_reservations_are_kept_per_account_in_the_store(db: Database) -> None:
    assert pace.reserve("a@smtp.example:587", NOW, 5, 4) == (4, NOW)
    assert pace.reserve("b@smtp.example:587", NOW, 5, 4) == (4, NOW)  # another account
    granted, free = pace.reserve("a@smtp.example:587", NOW + timedelta(seconds=20), 5, 4)
    assert (granted, free) == (1, NOW + timedelta(seconds=61))
    assert pace.reserve("a@smtp.example:587", NOW + timedelta(seconds=30), 5, 1)[0] == 0
    assert pace.reserve("a@smtp.example:587", NOW + timedelta(seconds=61), 5, 9)[0] == 4
    assert SendPace.select().count() == 2


WORKER = """
import sys, time
from datetime import datetime
from mailtix.store import pace
from mailtix.store.db import open_store
url, account, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
db = open_store(url, upgrade=False)
while time.time() < start:
    time.sleep(0.001)
now, granted = datetime(2026, 11, 23, 10, 0, 0), 0
for _ in range(10):
    granted += pace.reserve(account, now, 7, 1)[0]
print(granted)
"""


def race(url: str, account: str, workers: int = 4) -> list[int]:
    """``workers`` processes, started together, each asking ten times for one send."""
    start = time.time() + 1.5  # time for every interpreter to start and connect
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, account, str(start)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(workers)
    ]
    return [int(p.communicate(timeout=60)[0]) for p in procs]


def test_workers_in_other_processes_share_one_limit_on_sqlite(db: Database, tmp_path: Path) -> None:
    granted = race(f"sqlite:///{tmp_path / 'mailtix.db'}", "shared@smtp.example:587")
    print(f"\npace on SQLite: 4 workers x 10 asks at 7/min -> granted {granted}")
    assert sum(granted) == 7


@pytest.mark.postgres
def test_workers_in_other_processes_share_one_limit_on_postgres(postgres_url: str) -> None:
    store = open_store(postgres_url)  # creates the schema if this session has not yet
    account = f"race-{time.time_ns()}@smtp.example:587"
    try:
        granted = race(postgres_url, account, workers=6)
        print(f"\npace on PostgreSQL: 6 workers x 10 asks at 7/min -> granted {granted}")
        assert sum(granted) == 7
    finally:
        SendPace.delete().where(SendPace.account == account).execute()
        store.close()


def test_an_unreadable_row_counts_as_empty_and_is_written_anew(db: Database) -> None:
    pace.reserve("a@smtp.example:587", NOW, 5, 1)
    SendPace.update(sends="not json").execute()
    assert pace.reserve("a@smtp.example:587", NOW, 5, 9) == (5, NOW + timedelta(seconds=61))
    assert SendPace.get().sends == f'{{"{T}": 5}}'
