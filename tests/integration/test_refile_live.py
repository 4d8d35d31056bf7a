"""What ``#spam`` moves on real Dovecot: only the copy whose bytes were stored for the ticket.
A stranger's mail that reuses its Message-ID stays where it is, and the polled folder is
selected again after."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from support.mailstack import Mailbox, MailStack

from mailtix.config.model import MailboxConfig
from mailtix.inbound.imap_source import ImapSource

pytestmark = pytest.mark.integration

MESSAGE_ID = "<offer-1@customer.test>"
CUSTOMERS = b"Message-ID: <offer-1@customer.test>\r\nSubject: Great offer\r\n\r\nBuy now.\r\n"
STRANGERS = b"Message-ID: <offer-1@customer.test>\r\nSubject: Invoice\r\n\r\nA real one.\r\n"


def test_only_the_stored_copy_moves(
    mailstack: MailStack, fresh_mailbox: Callable[..., Mailbox]
) -> None:
    box = fresh_mailbox()
    with mailstack.imap(box.address) as client:
        for folder in ("Processed", "Spam"):
            client.create_folder(folder)
        for raw in (CUSTOMERS, STRANGERS):
            client.append("Processed", raw)
    config = MailboxConfig(name="support", address=box.address, host=box.host,
                           port=box.imap_port, security="none", username=box.login,
                           password=box.password)  # fmt: skip
    stored = hashlib.sha256(CUSTOMERS).hexdigest()
    with ImapSource(config) as source:
        moved = source.refile([MESSAGE_ID], "Processed", "Spam",
                              lambda raw: hashlib.sha256(raw).hexdigest() == stored)  # fmt: skip
        assert moved == 1
        assert source.list_keys_now() == []  # INBOX is selected again, not Spam
    [in_spam] = mailstack.fetch(box.address, "Spam")
    [kept] = mailstack.fetch(box.address, "Processed")
    assert b"Great offer" in in_spam and b"A real one." in kept
