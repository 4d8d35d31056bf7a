"""A long-lived sender keeps its SMTP connections from one drain to the next (one event loop,
``outbox.SenderState``), counted in what the private Postfix logged; a kept connection the
server has closed meanwhile is replaced without costing a row an attempt; the last drain's
connections are closed with QUIT when the sender stops."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from peewee import Database
from support.mailstack import CUSTOMER_DOMAIN, Mailbox, MailStack

from mailtix.config.model import SmtpConfig
from mailtix.outbound import outbox
from mailtix.store.db import open_store
from mailtix.store.models import OutboxItem

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 10, 0, 0)
FreshMailbox = Callable[..., Mailbox]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    store = open_store(f"sqlite:///{tmp_path / 'mailtix.db'}")
    yield store
    store.close()


def queue(to: str, n: int) -> OutboxItem:
    raw = f"From: support@example.test\r\nTo: {to}\r\nSubject: {n}\r\n\r\nbody\r\n".encode()
    return OutboxItem.create(
        kind="acknowledgement", envelope_from="support@example.test", recipients=[to],
        recipient_key=to, message_id=f"<m{n}@example.test>", rfc822=raw,
        next_attempt_at=NOW, created_at=NOW,
    )  # fmt: skip


def smtpd_lines(stack: MailStack, what: str) -> int:
    """How many ``connect from`` / ``disconnect from`` lines Postfix's smtpd logged so far."""
    text = (stack.log_dir / "postfix.log").read_text(errors="replace")
    return len(re.findall(rf"postfix/smtpd\[\d+\]: {what} from ", text))


def test_connections_are_kept_across_drains_and_replaced_when_dropped(
    db: Database, mailstack: MailStack, fresh_mailbox: FreshMailbox
) -> None:
    carol = fresh_mailbox("carol", domain=CUSTOMER_DOMAIN)
    smtp = SmtpConfig(host=mailstack.host, port=mailstack.smtp_port, security="none", timeout=10)
    before = smtpd_lines(mailstack, "connect")
    state = outbox.SenderState.open()
    try:
        sent = 0
        for drain in range(5):  # as a sender kicked after each committed batch
            for n in range(4):
                queue(carol.address, drain * 4 + n)
            sent += outbox.drain(smtp, lambda: NOW, state=state)["sent"]
        assert sent == 20
        assert state.pool.opened == 2  # not 10: the two of the first drain served all five
        assert smtpd_lines(mailstack, "connect") - before == 2
        for senders in state.pool._idle.values():  # the server hangs up on kept connections
            for sender, _ in senders:
                sender._client.close()  # type: ignore[attr-defined]
        rows = [queue(carol.address, 100 + n) for n in range(3)]
        assert outbox.drain(smtp, lambda: NOW, state=state) == {"sent": 3}
        assert {OutboxItem.get_by_id(r.id).attempts for r in rows} == {1}  # no failed attempt
        assert state.pool.opened == 4
    finally:
        state.close()
    assert len(state.pool) == 0
    mailstack.wait_for_messages(carol.login, count=23)
    assert smtpd_lines(mailstack, "connect") - before == 4
