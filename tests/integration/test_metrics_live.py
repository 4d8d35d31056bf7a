"""A running ``mailtix run`` with ``[metrics] listen`` and ``[logging] format = "json"`` on the
real mail stack: its metrics, scraped over HTTP while mail flows, count what happened (mails
in by outcome, mails out, acknowledgement latencies, poll durations, a quarantined mail), and
every line it logs is one JSON object (from the first, the store's creation), naming the
mailbox where one applies."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from support.live import customer_mail, outbox_items, unique, write_config
from support.mailstack import free_ports

pytestmark = pytest.mark.integration


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_metrics_count_what_happened_and_logs_are_json_lines(
    mailstack: Any, tmp_path: Path
) -> None:
    support, carol = unique("support"), unique("carol")
    mailstack.add_user(carol)
    port = free_ports(1)[0]
    extra = (
        f'[metrics]\nlisten = "127.0.0.1:{port}"\n\n[logging]\nformat = "json"\nlevel = "warning"\n'
    )
    config = write_config(
        tmp_path, mailstack,
        [{"name": "support", "user": support, "poll_interval": 1, "max_message_bytes": 4096}],
        extra=extra,
    )  # fmt: skip
    log_path = tmp_path / "daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mailtix", "--config", str(config), "-v", "run"],  # info
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    try:
        support_addr, carol_addr = f"{support}@example.test", f"{carol}@customer.test"
        for n in (1, 2):
            mail = customer_mail(carol_addr, support_addr, f"Question {n}")
            mailstack.send(mail, carol_addr, [support_addr])
        big = customer_mail(carol_addr, support_addr, "Huge", "x" * 8000)
        mailstack.send(big, carol_addr, [support_addr])
        mailstack.wait_for_messages(carol, count=2, timeout=30)  # both acknowledgements

        deadline, samples = time.monotonic() + 30, {}
        while time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            try:
                samples = scrape(port)
            except OSError:
                samples = {}
            acks = value(samples, "mailtix_ack_latency_seconds_count") or 0
            if acks >= 2 and value(samples, "mailtix_quarantine_size") == 1:
                break
            time.sleep(0.5)
        sent = [i for i in outbox_items(config, include_sent=True) if i["status"] == "sent"]
        shown = {k: v for k, v in samples.items() if not k[0].endswith("_bucket")}
        print("\nscraped:", json.dumps({f"{k[0]}{dict(k[1])}": v for k, v in shown.items()}))
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    assert code == 0, log_path.read_text()

    assert value(samples, "mailtix_mails_in_total", mailbox="support", outcome="ticket") == 2
    assert value(samples, "mailtix_mails_in_total", mailbox="support", outcome="quarantined") == 1
    assert value(samples, "mailtix_quarantine_size") == 1
    assert value(samples, "mailtix_ack_latency_seconds_count") == 2
    assert 0 < (value(samples, "mailtix_ack_latency_seconds_sum") or 0) < 30
    assert value(samples, "mailtix_mails_out_total", result="sent") == len(sent)
    assert value(samples, "mailtix_mails_out_total", result="failed") == 0
    assert value(samples, "mailtix_outbox_depth") == 0
    assert (value(samples, "mailtix_poll_duration_seconds_count", mailbox="support") or 0) >= 1
    since = value(samples, "mailtix_seconds_since_last_good_poll", mailbox="support")
    assert since is not None and 0 <= since < 10

    lines = log_path.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert any(r.get("mailbox") == "support" and "quarantined" in r["message"] for r in records)
    assert any(r["message"] == "mailtix stopped" for r in records)
    assert any(r["message"].startswith("created schema version") for r in records)  # -v: info
    assert "secret" not in log_path.read_text()  # the IMAP password is masked, if ever logged
