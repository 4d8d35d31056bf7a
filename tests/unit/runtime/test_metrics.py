"""The daemon's metrics from the store: each acknowledgement's latency is counted once, when the
store says it was sent, reading only the rows from the oldest one still awaited; outbox depth,
quarantine size and the seconds since a mailbox's last good poll come from the store too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from peewee import Database

from mailtix.runtime.health import HealthRecorder
from mailtix.runtime.metrics import GIVE_UP, Metrics
from mailtix.store import health, open_store
from mailtix.store.models import OutboxItem, QuarantineItem

T0 = datetime(2026, 12, 2, 10, 0, 0)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    store = open_store(f"sqlite:///{tmp_path / 'mailtix.db'}")
    yield store
    store.close()


def outbox(kind: str = "acknowledgement", created: float = 0, **extra: object) -> OutboxItem:
    return OutboxItem.create(
        kind=kind, envelope_from="support@acme.example", recipients=["c@x.example"],
        recipient_key="c@x.example", message_id=f"<{id(extra)}@acme.example>", rfc822=b"x",
        next_attempt_at=T0, created_at=T0 + timedelta(seconds=created), **extra,
    )  # fmt: skip


def sent(row: OutboxItem, after: float) -> None:
    row.status, row.sent_at = "sent", row.created_at + timedelta(seconds=after)
    row.save()


def figures(metrics: Metrics) -> dict[str, float]:
    return {
        sample.name + "".join(f"|{v}" for v in sample.labels.values()): sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
    }


def test_ack_latencies_are_counted_once_when_sent(db: Database) -> None:
    before = outbox(status="sent", sent_at=T0)  # queued before the daemon started: not counted
    metrics = Metrics(HealthRecorder("h:1"), ["support"], lambda: T0 + timedelta(minutes=1))
    first, second = outbox(created=1), outbox(created=2)
    notice = outbox(kind="notification", created=3)
    sent(first, 1.5)
    sent(notice, 0.5)
    assert figures(metrics)["mailtix_ack_latency_seconds_count"] == 1
    assert metrics._acks_from == second.id  # still awaited: read from here next time
    sent(second, 4.0)
    found = figures(metrics)
    assert found["mailtix_ack_latency_seconds_count"] == 2
    assert found["mailtix_ack_latency_seconds_sum"] == 5.5
    assert figures(metrics)["mailtix_ack_latency_seconds_count"] == 2  # not twice
    assert metrics._acks_from == second.id + 1 and before.id < first.id


def test_an_ack_unsent_for_a_day_is_no_longer_awaited(db: Database) -> None:
    now = T0 + GIVE_UP + timedelta(minutes=1)
    metrics = Metrics(HealthRecorder("h:1"), ["support"], lambda: now)
    stuck, fresh = outbox(created=0), outbox(created=GIVE_UP.total_seconds())
    figures(metrics)
    assert metrics._acks_from == fresh.id and stuck.id < fresh.id


def test_store_figures(db: Database) -> None:
    now = T0 + timedelta(seconds=90)
    recorder = HealthRecorder("h:1", lambda: T0)
    metrics = Metrics(recorder, ["support", "sales"], lambda: now)
    outbox(status="failed")
    outbox()
    outbox(kind="relay", status="sending")
    QuarantineItem.create(mailbox="support", sha256="0" * 64, reason="x", created_at=T0)
    health.record_poll("sales", T0 - timedelta(seconds=30), None, 0)  # another worker's poll
    recorder.poll_done("support", 0)
    found = figures(metrics)
    assert found["mailtix_outbox_depth"] == 2
    assert found["mailtix_mails_out_total|failed"] == 1
    assert found["mailtix_mails_out_total|sent"] == 0
    assert found["mailtix_quarantine_size"] == 1
    assert found["mailtix_seconds_since_last_good_poll|support"] == 90
    assert found["mailtix_seconds_since_last_good_poll|sales"] == 120


def test_a_port_already_taken_is_one_error_line_and_no_metrics(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    import socket
    import urllib.request

    from mailtix.runtime.metrics import start_metrics

    recorder = HealthRecorder("h:1")
    first = start_metrics(("127.0.0.1", 0), recorder, ["support"], lambda: T0)
    assert first is not None and first._server is not None
    port = first._server.server_address[1]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            assert b"mailtix_outbox_depth 0.0" in answer.read()
        with socket.socket() as other:  # another worker on this host holds the port
            other.bind(("127.0.0.1", 0))
            other.listen()
            taken = other.getsockname()[1]
            assert start_metrics(("127.0.0.1", taken), recorder, ["support"], lambda: T0) is None
    finally:
        first.close()
    [line] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert line.startswith(f"metrics not served on 127.0.0.1:{taken}: ")
