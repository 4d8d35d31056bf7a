"""The digest: when it is due (cron in the report's time zone), queued once, what it contains;
the [report] config checks."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support.config import small_config

from mailtix.config.load import check_problems, load_config
from mailtix.lifecycle.digest import digest_due, next_digest, run_digest
from mailtix.runtime.app import App
from mailtix.store import open_store
from mailtix.store.models import OutboxItem, Suppression, Ticket

BERLIN = ZoneInfo("Europe/Berlin")
WEEKLY = "0 8 * * 1"  # Mondays 08:00 Berlin = 07:00 UTC in March (before the DST switch)
REPORT = """
[report]
digest_to = ["lead@example.org", "boss@example.org"]
digest_schedule = "0 8 * * 1"
timezone = "Europe/Berlin"
"""


def digest_config(tmp_path: Path, extra: str = REPORT) -> Path:
    return small_config(
        tmp_path, address="support@example.org", mailbox='display_name = "ACME Support"',
        extra=extra,
    )  # fmt: skip


def test_due_after_a_scheduled_time_passes() -> None:
    monday_0730_utc = datetime(2026, 3, 2, 7, 30)
    assert digest_due(WEEKLY, None, monday_0730_utc, BERLIN)
    assert not digest_due(WEEKLY, None, datetime(2026, 3, 2, 6, 59), BERLIN)
    assert not digest_due(WEEKLY, None, datetime(2026, 3, 4, 12, 0), BERLIN)  # missed 2 days ago
    sent = monday_0730_utc
    assert not digest_due(WEEKLY, sent, datetime(2026, 3, 3, 9, 0), BERLIN)
    assert not digest_due(WEEKLY, sent, datetime(2026, 3, 9, 6, 59), BERLIN)
    assert digest_due(WEEKLY, sent, datetime(2026, 3, 9, 7, 0), BERLIN)
    assert digest_due(WEEKLY, sent, datetime(2026, 3, 30, 7, 0), BERLIN)  # missed ones: one digest
    fire = next_digest(WEEKLY, sent, sent, BERLIN)
    assert fire is not None and fire.isoformat() == "2026-03-09T07:00:00+00:00"
    summer = next_digest(WEEKLY, datetime(2026, 3, 30, 7, 0), datetime(2026, 3, 30, 7), BERLIN)
    assert summer is not None and summer.hour == 6  # CEST: 08:00 Berlin is 06:00 UTC


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    config = load_config(digest_config(tmp_path))
    db = open_store(config.store.url)
    Ticket.create(
        subject="Secret customer subject", customer="c@example.org", mailbox="support",
        department="general", created_at=datetime(2026, 3, 1, 9),
        updated_at=datetime(2026, 3, 1, 9),
    )  # fmt: skip
    yield App(config, db)
    db.close()


def test_run_digest_queues_one_mail_per_due_time(app: App) -> None:
    assert run_digest(app, datetime(2026, 3, 2, 6, 0)).startswith("digest: not due (next 2026-03")
    first = run_digest(app, datetime(2026, 3, 2, 7, 5))
    assert first.startswith("digest: queued for lead@example.org, boss@example.org")
    assert run_digest(app, datetime(2026, 3, 2, 7, 6)).startswith("digest: not due")
    rows = list(OutboxItem.select())
    assert len(rows) == 1 and rows[0].kind == "digest" and rows[0].ticket_id is None
    assert rows[0].recipients == ["lead@example.org", "boss@example.org"]
    assert run_digest(app, datetime(2026, 3, 9, 7, 1)).startswith("digest: queued")
    assert OutboxItem.select().count() == 2


def test_digest_goes_through_the_mailers_suppression_check(app: App) -> None:
    Suppression.create(address="lead@example.org", created_at=datetime(2026, 3, 1))
    said = run_digest(app, datetime(2026, 3, 2, 7, 5))
    assert said == "digest: held back for lead@example.org, boss@example.org: undeliverable"
    assert OutboxItem.select().count() == 0
    assert run_digest(app, datetime(2026, 3, 2, 7, 6)).startswith("digest: not due")


def test_digest_mail_is_html_with_a_text_alternative(app: App) -> None:
    run_digest(app, datetime(2026, 3, 2, 7, 5))
    raw = bytes(OutboxItem.get().rfc822)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "ACME Support digest 2026-02-23 to 2026-03-02"
    assert message["From"] == "ACME Support <support@example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "<svg" in html and "general" in html and "Secret customer subject" not in html
    assert "DEPARTMENT" in text and "general" in text


def test_not_configured(tmp_path: Path) -> None:
    config = load_config(digest_config(tmp_path, ""))
    db = open_store(config.store.url)
    try:
        assert run_digest(App(config, db), datetime(2026, 3, 2, 7, 5)).startswith(
            "digest: not configured"
        )
    finally:
        db.close()


def test_report_config_problems(tmp_path: Path) -> None:
    bad = (
        '[report]\ndigest_to = ["not an address"]\ndigest_schedule = "every monday"\n'
        'timezone = "Mars/Olympus"\ndigest_days = 0\ncolour = "red"\n'
    )
    problems = check_problems(digest_config(tmp_path, bad))
    assert any(p.startswith("mailtix.toml: report.digest_to: must be a list") for p in problems)
    assert any("report.digest_schedule: must be cron syntax" in p for p in problems)
    assert any("report.timezone: must be an IANA time zone" in p for p in problems)
    assert any("report.digest_days:" in p for p in problems)
    assert any("report.colour: unknown key" in p for p in problems)
    assert check_problems(digest_config(tmp_path, REPORT)) == []


def test_cron_days_are_standard_cron() -> None:
    """APScheduler 3 counts 0 = Monday; mailtix's [report] schedule is standard cron."""
    from mailtix.config.report import _cron_days

    assert _cron_days("1") == "mon"
    assert _cron_days("1-5") == "mon,tue,wed,thu,fri"
    assert _cron_days("0,7") == "sun"
    assert _cron_days("*/2") == "sun,tue,thu,sat"
    assert _cron_days("*") == "*" and _cron_days("mon-fri") == "mon-fri"
