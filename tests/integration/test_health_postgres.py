"""Health and metrics on PostgreSQL (several workers share one store there): two daemons'
heartbeats, a mailbox's results as either worker writes them, status and the store figures of
a scrape read the same SQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from peewee import Database
from support.config import small_config

from mailtix.cli.status import build_status
from mailtix.config.load import load_config
from mailtix.runtime.health import HealthRecorder
from mailtix.runtime.metrics import Metrics
from mailtix.store import health, open_store
from mailtix.store.models import ALL_MODELS, OutboxItem, SchemaVersion

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 12, 2, 10, 0, 0)


@pytest.fixture
def pg(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Database, Path]]:
    def drop() -> None:
        db = open_store(postgres_url, upgrade=False)
        db.drop_tables([*ALL_MODELS, SchemaVersion], safe=True, cascade=True)
        db.close()

    drop()
    config = small_config(tmp_path, store=f'url = "{postgres_url}"', mailbox="poll_interval = 60")
    db = open_store(postgres_url)
    yield db, config
    db.close()
    drop()


def test_two_workers_health_status_and_scrape_on_postgres(pg: tuple[Database, Path]) -> None:
    _, path = pg
    config = load_config(path, secrets=False)
    clock = [T0]
    one = HealthRecorder("host-a:1", lambda: clock[0], lambda: 0.0)
    two = HealthRecorder("host-b:2", lambda: clock[0], lambda: 0.0)
    assert one.beat() and two.beat()
    assert one.poll_failed("support", "support: cannot connect")
    clock[0] = T0 + timedelta(seconds=20)
    assert two.poll_done("support", 1)  # the other worker polled it fine meanwhile
    row = health.mailboxes()["support"]
    assert (row.failing_since, row.last_success_at, row.waiting) == (None, clock[0], 1)

    report = build_status(config, T0 + timedelta(seconds=30))
    assert report["healthy"] is True, report["problems"]
    assert sorted(w["worker"] for w in report["daemon"]["workers"]) == ["host-a:1", "host-b:2"]

    OutboxItem.create(
        kind="acknowledgement", envelope_from="support@acme.example", recipients=["c@x"],
        recipient_key="c@x", message_id="<1@acme.example>", rfc822=b"x", status="failed",
        next_attempt_at=T0, created_at=T0,
    )  # fmt: skip
    metrics = Metrics(one, ["support"], lambda: T0 + timedelta(seconds=30))
    found = {
        s.name + "".join(f"|{v}" for v in s.labels.values()): s.value
        for family in metrics.registry.collect()
        for s in family.samples
    }
    assert found["mailtix_mails_out_total|failed"] == 1
    assert found["mailtix_outbox_depth"] == 0
    assert found["mailtix_seconds_since_last_good_poll|support"] == 10  # worker two's poll
    one.stop()
    assert build_status(config, T0 + timedelta(seconds=31))["daemon"]["running"] is True  # two
