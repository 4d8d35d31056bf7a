"""What ``mailtix status`` calls healthy, from the facts in the store at a chosen time: a
daemon's heartbeat age, a mailbox failing longer than a few poll intervals, failed or retrying
outbox mail; quarantined mail is counted but does not make it unhealthy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from peewee import Database
from support.config import small_config

from mailtix.cli import status
from mailtix.cli.status import DAEMON_BEATS, FAILING_POLLS, build_status, render
from mailtix.config.load import load_config
from mailtix.config.model import Config
from mailtix.store import health, open_store
from mailtix.store.models import OutboxItem, QuarantineItem

T0 = datetime(2026, 12, 2, 10, 0, 0)
POLL = 60


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Config]:
    loaded = load_config(small_config(tmp_path, mailbox=f"poll_interval = {POLL}"))
    db: Database = open_store(loaded.store.url)
    yield loaded
    db.close()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_beating_daemon_and_a_polled_mailbox_are_healthy(config: Config) -> None:
    health.beat("host:1", T0, at(0), 30)
    health.record_poll("support", at(0), None, 3)
    report = build_status(config, at(10))
    assert report["healthy"] is True and report["problems"] == []
    [mailbox] = report["mailboxes"]
    assert (mailbox["last_success"], mailbox["waiting"]) == ("2026-12-02T10:00:00+00:00", 3)
    assert report["daemon"]["running"] is True
    assert "healthy" in render(report)


def test_a_daemon_whose_heartbeat_is_old_or_stopped_is_not_running(config: Config) -> None:
    health.beat("host:1", T0, at(0), 30)
    health.record_poll("support", at(0), None, 0)
    assert build_status(config, at(DAEMON_BEATS * 30))["healthy"] is True
    late = build_status(config, at(DAEMON_BEATS * 30 + 1))
    assert late["healthy"] is False and late["daemon"]["running"] is False
    assert late["problems"][0] == (
        "daemon: not running: the last heartbeat, of host:1, is 91 s old "
        "(2026-12-02T10:00:00+00:00)"
    )
    health.beat("host:1", T0, at(100), 30)
    health.stopped("host:1", at(101))
    stopped = build_status(config, at(102))
    assert stopped["daemon"]["running"] is False
    assert (
        stopped["problems"][0] == "daemon: not running: host:1 stopped at 2026-12-02T10:01:41+00:00"
    )


def test_a_mailbox_failing_longer_than_a_few_poll_intervals_is_unhealthy(config: Config) -> None:
    health.beat("host:1", T0, at(0), 30)
    health.record_poll("support", at(0), "support: cannot connect to imap.acme.example", None)
    grace = FAILING_POLLS * POLL
    health.beat("host:1", T0, at(grace), 30)
    assert build_status(config, at(grace - 1))["healthy"] is True  # a blip is not an alarm
    report = build_status(config, at(grace))
    assert report["healthy"] is False
    assert report["problems"] == [
        "mailbox support: failing since 2026-12-02T10:00:00+00:00: "
        "support: cannot connect to imap.acme.example"
    ]
    assert report["mailboxes"][0]["waiting"] is None  # not known while it fails
    assert "FAILING" in render(report)


def test_a_mailbox_never_polled_is_unhealthy_once_the_daemon_had_time(config: Config) -> None:
    health.beat("host:1", T0, at(0), 30)
    assert build_status(config, at(1))["healthy"] is True
    health.beat("host:1", T0, at(FAILING_POLLS * POLL + 1), 30)
    report = build_status(config, at(FAILING_POLLS * POLL + 1))
    assert report["problems"] == ["mailbox support: never polled"]


def test_failed_and_retrying_outbox_mail_is_unhealthy_quarantine_is_counted(
    config: Config,
) -> None:
    health.beat("host:1", T0, at(0), 30)
    health.record_poll("support", at(0), None, 0)
    QuarantineItem.create(mailbox="support", sha256="0" * 64, reason="too large", created_at=T0)
    QuarantineItem.create(  # spam kept for an LMTP mailbox: counted apart, never held
        mailbox="support", sha256="1" * 64, reason="spam: flagged", status="kept", created_at=T0
    )
    report = build_status(config, at(1))
    assert report["healthy"] is True and report["quarantine"] == {"held": 1, "kept": 1}
    assert "quarantine: 1 held, 1 spam or ignored kept" in render(report)

    row = OutboxItem.create(
        kind="acknowledgement", envelope_from="support@acme.example", recipients=["c@x.example"],
        recipient_key="c@x.example", message_id="<1@acme.example>", rfc822=b"",
        next_attempt_at=T0, created_at=T0, attempts=1, last_error="connection refused",
    )  # fmt: skip
    report = build_status(config, at(1))
    assert report["outbox"] == {
        "pending": 1, "failed": 0, "retrying": 1, "last_error": "connection refused"
    }  # fmt: skip
    assert report["problems"] == ["outbox: 1 waiting for a retry: connection refused"]
    row.status = "failed"
    row.save()
    assert build_status(config, at(1))["problems"] == ["outbox: 1 failed (`mailtix outbox list`)"]


def test_oauth_accounts_are_listed_and_a_token_about_to_expire_is_unhealthy(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailtix.config.oauth2 import OAuth2Config

    cache = tmp_path / "var" / "oauth-support.json"
    oauth = OAuth2Config(provider="google", client_id="id-1", token_cache=cache)
    config = replace(config, mailboxes=(replace(config.mailboxes[0], oauth2=oauth),))
    health.beat("host:1", T0, at(0), 30)
    health.record_poll("support", at(0), None, 0)
    [account] = build_status(config, at(1))["oauth"]
    assert account == {
        "account": "mailbox support", "token_cache": str(cache), "signed_in": False,
        "expires_at": None, "access_token_expires_at": None, "healthy": True,
    }  # fmt: skip

    monkeypatch.setattr(status, "_token_expiry", lambda oauth: at(1800))
    report = build_status(config, at(1))
    assert report["healthy"] is False
    assert report["problems"][0].startswith("oauth mailbox support: token expires")
    assert build_status(config, at(1800 - 3601))["healthy"] is True
