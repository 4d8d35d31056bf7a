"""The daemon writes its health cheaply: a poll result when it is news (else every few
minutes), a heartbeat at most every BEAT_SECONDS; and what it writes is what status reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from peewee import Database

from mailtix.runtime.health import BEAT_SECONDS, REFRESH_SECONDS, HealthRecorder
from mailtix.store import health, open_store
from mailtix.store.models import Heartbeat

T0 = datetime(2026, 12, 2, 10, 0, 0)


class Clocks:
    def __init__(self) -> None:
        self.seconds = 0.0

    def wall(self) -> datetime:
        return T0 + timedelta(seconds=self.seconds)

    def mono(self) -> float:
        return self.seconds


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    store = open_store(f"sqlite:///{tmp_path / 'mailtix.db'}")
    yield store
    store.close()


def test_poll_results_are_written_when_they_change_or_every_few_minutes(db: Database) -> None:
    clocks = Clocks()
    recorder = HealthRecorder("host:1", clocks.wall, clocks.mono)
    assert recorder.poll_done("support", 0)
    written = [recorder.poll_done("support", 0) for clocks.seconds in range(1, 60)]
    assert not any(written)  # a minute of good polls: no write
    assert health.mailboxes()["support"].checked_at == T0

    clocks.seconds = 61
    assert recorder.poll_done("support", 2)  # another count waiting is news
    clocks.seconds = 61 + REFRESH_SECONDS
    assert recorder.poll_done("support", 2)  # the same, but old enough to refresh
    assert health.mailboxes()["support"].checked_at == clocks.wall()

    clocks.seconds += 1
    failed_at = clocks.wall()
    assert recorder.poll_failed("support", "support: cannot connect")
    assert not recorder.poll_failed("support", "support: cannot connect")
    clocks.seconds += 5
    assert recorder.poll_failed("support", "support: login failed")
    row = health.mailboxes()["support"]
    assert (row.failing_since, row.last_error, row.last_error_at) == (
        failed_at, "support: login failed", clocks.wall(),
    )  # fmt: skip
    assert row.last_success_at == T0 + timedelta(seconds=61 + REFRESH_SECONDS)

    clocks.seconds += 5
    assert recorder.poll_done("support", 0)  # recovery
    row = health.mailboxes()["support"]
    assert row.failing_since is None and row.last_success_at == clocks.wall()
    assert row.last_error == "support: login failed"  # kept, with its time, for status


def test_heartbeat_at_most_every_beat_interval_and_a_clean_stop(db: Database) -> None:
    clocks = Clocks()
    recorder = HealthRecorder("host:1", clocks.wall, clocks.mono)
    beats = []
    for clocks.seconds in range(0, 3 * BEAT_SECONDS, 5):
        beats.append(recorder.beat())
    assert beats.count(True) == 3
    [row] = health.heartbeats()
    assert (row.worker, row.started_at, row.interval) == ("host:1", T0, BEAT_SECONDS)
    assert row.beat_at == T0 + timedelta(seconds=2 * BEAT_SECONDS)
    recorder.stop()
    assert Heartbeat.get().stopped_at == clocks.wall()


def test_a_store_that_cannot_be_written_costs_a_log_line_not_a_poll(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    clocks = Clocks()
    recorder = HealthRecorder("host:1", clocks.wall, clocks.mono)
    db.close()
    db.execute_sql("DROP TABLE mailbox_health")  # reopens; the table is gone
    assert not recorder.poll_done("support", 0)
    assert "health not recorded" in caplog.text


def test_secrets_are_masked_in_the_errors_kept(db: Database) -> None:
    clocks = Clocks()
    recorder = HealthRecorder("host:1", clocks.wall, clocks.mono, secrets=["imap-pass-123"])
    recorder.poll_failed("support", "LOGIN support imap-pass-123: refused")
    assert health.mailboxes()["support"].last_error == "LOGIN support ***: refused"
