"""Prometheus metrics of one ``mailtix run``, served on ``[metrics] listen`` by prometheus-client
(imported only when metrics are on).

Counted by this daemon as it works: mails in by mailbox and outcome, and poll durations.
Read from the store at each scrape, so the same on every worker (aggregate them with max, not
sum): mails out by result, outbox depth, quarantine size, seconds since each mailbox's last good
poll (this daemon's own, or any worker's as the store has it), and the acknowledgement latency
of acknowledgements queued since this daemon started: from the moment the customer's mail was
stored (its acknowledgement is queued in the same transaction) to the SMTP server accepting it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from peewee import fn

from mailtix.runtime.health import HealthRecorder
from mailtix.runtime.poller import PollResult
from mailtix.store import health
from mailtix.store.models import OutboxItem, QuarantineItem, database_proxy

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = logging.getLogger(__name__)

POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
ACK_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
GIVE_UP = timedelta(days=1)  # an acknowledgement still unsent after this is no longer awaited


class Metrics:
    def __init__(
        self, health: HealthRecorder, mailboxes: list[str], clock: Callable[[], datetime]
    ) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

        disable_created_metrics()  # no *_created series: scrapers compute rates without them
        self.health, self.mailboxes, self.clock = health, mailboxes, clock
        self.registry = CollectorRegistry()
        self.mails_in = Counter(
            "mailtix_mails_in", "Mails read from a mailbox, by what became of them",
            ["mailbox", "outcome"], registry=self.registry,
        )  # fmt: skip
        self.poll_seconds = Histogram(
            "mailtix_poll_duration_seconds", "How long one poll of a mailbox took",
            ["mailbox"], buckets=POLL_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.ack_latency = Histogram(
            "mailtix_ack_latency_seconds",
            "From a customer's mail stored to its acknowledgement accepted by the SMTP server",
            buckets=ACK_BUCKETS, registry=None,
        )  # fmt: skip
        self.registry.register(_StoreFigures(self))
        last = OutboxItem.select(fn.MAX(OutboxItem.id)).scalar()
        self._acks_from = int(last or 0) + 1  # acknowledgements queued from now on
        self._observed: set[int] = set()  # sent ones at or after _acks_from, already counted
        self._server: WSGIServer | None = None

    def polled(self, result: PollResult, seconds: float) -> None:
        self.poll_seconds.labels(result.mailbox).observe(seconds)
        for outcome, count in result.outcomes.items():
            self.mails_in.labels(result.mailbox, outcome).inc(count)

    def serve(self, host: str, port: int) -> None:
        from prometheus_client import start_http_server

        self._server, _ = start_http_server(port, host, self.registry)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def catch_up_acks(self) -> None:
        """Observe the latency of the acknowledgements the store now says were sent. Only the
        rows from the oldest one still awaited on are read (by id: the outbox keeps every
        mail's bytes, so a scan of it would take seconds)."""
        awaited, last_id = [], self._acks_from - 1
        oldest = self.clock() - GIVE_UP
        rows = OutboxItem.select(
            OutboxItem.id, OutboxItem.status, OutboxItem.created_at, OutboxItem.sent_at
        ).where((OutboxItem.id >= self._acks_from) & (OutboxItem.kind == "acknowledgement"))
        for row in rows.order_by(OutboxItem.id):
            last_id = max(last_id, row.id)
            sent: datetime | None = row.sent_at
            if row.id in self._observed:
                continue
            if row.status == "sent" and sent is not None:
                self.ack_latency.observe(max(0.0, (sent - row.created_at).total_seconds()))
                self._observed.add(row.id)
            elif row.status in ("pending", "sending") and row.created_at >= oldest:
                awaited.append(row.id)
        self._acks_from = awaited[0] if awaited else last_id + 1
        self._observed = {i for i in self._observed if i >= self._acks_from}


class _StoreFigures:
    """The figures read from the store at each scrape (one short connection per scrape)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        metrics = self.metrics
        with database_proxy.connection_context():
            metrics.catch_up_acks()
            by_status = OutboxItem.select(OutboxItem.status, fn.COUNT(OutboxItem.id))
            rows: Any = by_status.group_by(OutboxItem.status).tuples()
            counts = {str(status): int(count) for status, count in rows}
            held = QuarantineItem.select().where(QuarantineItem.status == "held").count()
            stored = {name: row.last_success_at for name, row in health.mailboxes().items()}
        out = CounterMetricFamily("mailtix_mails_out", "Mails sent or failed", labels=["result"])
        for result in ("sent", "failed"):
            out.add_metric([result], counts.get(result, 0))
        yield out
        yield GaugeMetricFamily(
            "mailtix_outbox_depth", "Outgoing mails not sent yet",
            value=counts.get("pending", 0) + counts.get("sending", 0),
        )  # fmt: skip
        yield GaugeMetricFamily("mailtix_quarantine_size", "Quarantined mails held", value=held)
        since = GaugeMetricFamily(
            "mailtix_seconds_since_last_good_poll",
            "Seconds since a mailbox was last polled without error (+Inf: never)",
            labels=["mailbox"],
        )
        now = metrics.clock()
        for name in metrics.mailboxes:
            times = [t for t in (metrics.health.last_success.get(name), stored.get(name)) if t]
            since.add_metric([name], (now - max(times)).total_seconds() if times else float("inf"))
        yield since
        yield from metrics.ack_latency.collect()


def start_metrics(
    listen: tuple[str, int], health: HealthRecorder, mailboxes: list[str],
    clock: Callable[[], datetime],
) -> Metrics | None:  # fmt: skip
    """Metrics served on ``listen``; None (one error line) when the address cannot be bound."""
    metrics = Metrics(health, mailboxes, clock)
    host, port = listen
    try:
        metrics.serve(host, port)
    except OSError as exc:
        log.error("metrics not served on %s:%d: %s (another worker on this host?)", host, port,
                  exc.strerror or exc)  # fmt: skip
        return None
    log.info("metrics on http://%s:%d/metrics", host if ":" not in host else f"[{host}]", port)
    return metrics
