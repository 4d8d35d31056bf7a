"""The digest through real Postfix, read back over IMAP from Dovecot; the HTML report rendered
headless in Chromium to a screenshot (skipped loudly without Chromium, failing in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import support.config
from support.live import parse, unique, write_config
from support.mailstack import MailStack

from mailtix.config.lifecycle import SlaConfig
from mailtix.domain.vocabulary import Field, Status
from mailtix.lifecycle.changes import change
from mailtix.lifecycle.digest import run_digest
from mailtix.outbound import outbox
from mailtix.runtime.app import App
from mailtix.store.models import Message, Ticket

REPO = Path(__file__).resolve().parents[2]


def some_tickets(now: datetime) -> None:
    for i, department in enumerate(["general", "general", "billing"]):
        created = now - timedelta(days=i + 1, hours=3)
        ticket = Ticket.create(
            subject=f"Customer subject {i}", customer="c@example.org", mailbox="support",
            department=department, created_at=created, updated_at=created,
            first_response_at=created + timedelta(hours=2),
        )  # fmt: skip
        Message.create(
            ticket=ticket, direction="out", kind="agent", created_at=created + timedelta(hours=2)
        )
        resolved = created + timedelta(hours=5)
        change(ticket, Field.STATUS, Status.RESOLVED, resolved, sla=SlaConfig(), actor="agent",
               reason="done")  # fmt: skip


@pytest.mark.integration
def test_digest_is_mailed_through_postfix_and_read_over_imap(
    mailstack: MailStack, tmp_path: Path
) -> None:
    support, lead = unique("support"), unique("lead")
    mailstack.add_user(lead)
    extra = f'[report]\ndigest_to = ["{lead}@example.test"]\ndigest_schedule = "0 8 * * *"\n'
    config = write_config(tmp_path, mailstack, [{"name": "support", "user": support}], extra)
    app = App.open(config)
    now = datetime(2026, 3, 2, 8, 30)
    some_tickets(now)
    assert run_digest(app, now).startswith("digest: queued")
    assert outbox.drain(app.config.smtp, lambda: now)["sent"] == 1
    raw = mailstack.wait_for_messages(lead, count=1)[0]
    message = parse(raw)
    assert message["Subject"].startswith("ACME Support digest 2026-02-23 to 2026-03-02")
    assert message["Auto-Submitted"] == "auto-generated"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "<svg" in html and "billing" in html and "Customer subject" not in html
    assert "DEPARTMENT" in text and "billing" in text
    assert run_digest(app, now + timedelta(minutes=5)).startswith("digest: not due")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "chromium unavailable: apt-get install chromium (tests/run.sh does)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message + " (required in CI)", pytrace=False)
    print(f"\n!!! {message}: HTML screenshot test SKIPPED", file=sys.stderr)
    pytest.skip(message)


def test_html_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    binary = chromium()
    store = tmp_path / "report.db"
    subprocess.run(
        [sys.executable, str(REPO / "tests" / "bench" / "gen_tickets.py"), "--tickets", "2000",
         "--db", str(store), "--days", "60"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    config = support.config.small_config(
        tmp_path, address="support@example.org", store=f'url = "sqlite:///{store}"'
    )
    page, shot = tmp_path / "report.html", tmp_path / "report.png"
    subprocess.run(
        [sys.executable, "-m", "mailtix", "--config", str(config), "report", "--format", "html",
         "--output", str(page)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1200,2000", page.as_uri()],
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert shot.is_file(), "chromium wrote no screenshot"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 30_000  # charts and tables, not a blank page
