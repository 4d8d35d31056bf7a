"""A real Postfix against the LMTP server's session bounds: its cached connections, cut off
with a 421 once older than the session lifetime (shortened here to 0.1 s), cost no mail:
Postfix opens a new connection or keeps the mail queued and retries it, and bounces nothing."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.live import REPO, customer_mail, unique
from support.lmtp_stack import DESK, lmtp_stack
from support.mailstack import MailStack

from mailtix.runtime import lmtp
from mailtix.runtime.app import App
from mailtix.runtime.lmtp import LmtpServer
from mailtix.store.models import Ticket

pytestmark = pytest.mark.integration

MAILS = 60


@pytest.fixture(scope="module")
def stack() -> Iterator[MailStack]:
    with lmtp_stack("lmtp_destination_concurrency_limit = 2\n") as found:
        yield found


def test_postfix_retries_what_a_421_cut_off_and_bounces_nothing(
    stack: MailStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    monkeypatch.setattr(lmtp, "SESSION_SECONDS", 0.1)
    support, carol = f"{unique('support')}@{DESK}", unique("carol")
    stack.add_user(carol)
    config = tmp_path / "mailtix.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///mailtix.db"\n\n[smtp]\nmaildir = "outgoing"\n\n'
        f'[templates]\ndir = "{REPO / "templates"}"\n\n'
        f'[[mailbox]]\nname = "support"\naddress = "{support}"\nmaildir = "inbox"\n'
    )
    app = App.open(config)
    port = int(stack.mailtix_lmtp_port)  # type: ignore[attr-defined]
    server = LmtpServer(app.config, app.pipeline, ("127.0.0.1", port)).start()
    caplog.set_level(logging.WARNING, logger="mailtix.runtime.lmtp")
    try:
        for n in range(MAILS):  # a burst: Postfix reuses its connections
            msg = customer_mail(f"{carol}@customer.test", support, f"Bounded {n}")
            stack.send(msg, f"{carol}@customer.test", [support])
        deadline = time.monotonic() + 90
        while Ticket.select().count() < MAILS and time.monotonic() < deadline:
            time.sleep(0.2)
        stack.wait_queue_empty(timeout=30)
    finally:
        server.stop(drain=5)
    cut = [r for r in caplog.records if "Session open too long" in r.getMessage()]
    assert cut, "no session reached the lifetime: the test proved nothing"
    subjects = sorted(t.subject for t in Ticket.select())
    assert subjects == sorted(f"Bounded {n}" for n in range(MAILS))
    log = stack.log_tail(5000)
    assert "status=bounced" not in log
    assert stack.fetch(carol) == []  # no bounce to the sender
