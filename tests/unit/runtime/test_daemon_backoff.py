"""A mailbox that keeps failing is tried less and less often (no server: a closed local port)."""

from __future__ import annotations

import time
from pathlib import Path

from support.mailstack import free_ports

from mailtix.runtime.app import App
from mailtix.runtime.daemon import MAX_BACKOFF, Daemon


def test_failing_mailbox_backs_off_exponentially_and_recovers_its_schedule(tmp_path: Path) -> None:
    (tmp_path / "mailtix.toml").write_text(
        f"""
[store]
url = "sqlite:///mailtix.db"
[smtp]
maildir = "outgoing"
[[mailbox]]
name = "support"
address = "support@acme.example"
host = "127.0.0.1"
port = {free_ports(1)[0]}
security = "none"
password = "secret"
poll_interval = 30
timeout = 2
"""
    )
    daemon = Daemon(App.open(tmp_path / "mailtix.toml"))
    mailbox = daemon.app.config.mailboxes[0]

    daemon.watch_mailbox(mailbox)
    assert daemon.failures == {"support": 1}
    first_wait = daemon.resume_at["support"] - time.monotonic()
    assert 25 < first_wait <= 30

    daemon.watch_mailbox(mailbox)  # too early: not even tried
    assert daemon.failures == {"support": 1}

    for expected in (2, 3, 4, 5, 6, 7):
        daemon.resume_at["support"] = 0.0
        daemon.watch_mailbox(mailbox)
        assert daemon.failures == {"support": expected}
    wait = daemon.resume_at["support"] - time.monotonic()
    assert MAX_BACKOFF - 5 < wait <= MAX_BACKOFF  # 30 s doubling, capped at 15 minutes
