"""The test harness itself: mail goes Postfix -> LMTP -> Dovecot and comes back over IMAP."""

from __future__ import annotations

import email
from collections.abc import Callable
from email.message import EmailMessage

import pytest
from imapclient import IMAPClient
from support.mailstack import CUSTOMER_DOMAIN, Mailbox, MailStack

pytestmark = pytest.mark.integration

FreshMailbox = Callable[..., Mailbox]


def _message(sender: str, recipient: str, subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message.set_content("The printer on floor 3 is on fire again.\n")
    return message


def test_customer_mail_reaches_support_inbox(
    mailstack: MailStack, fresh_mailbox: FreshMailbox
) -> None:
    support = fresh_mailbox("support")
    carol = fresh_mailbox("carol", domain=CUSTOMER_DOMAIN)

    mailstack.send(
        _message(carol.address, support.address, "Printer"), carol.address, [support.address]
    )

    [raw] = mailstack.wait_for_messages(support.address)
    received = email.message_from_bytes(raw)
    assert received["Subject"] == "Printer"
    assert received["Delivered-To"] == support.address
    mailstack.wait_queue_empty()
    assert mailstack.postfix_queue_empty()


def test_support_reply_reaches_customer_inbox(
    mailstack: MailStack, fresh_mailbox: FreshMailbox
) -> None:
    support = fresh_mailbox("support")
    carol = fresh_mailbox("carol", domain=CUSTOMER_DOMAIN)

    mailstack.send(
        _message(support.address, carol.address, "Re: Printer"), support.address, [carol.address]
    )

    [raw] = mailstack.wait_for_messages(carol.login)
    assert email.message_from_bytes(raw)["Subject"] == "Re: Printer"


def test_append_returns_uids_listed_by_folder_uids(
    mailstack: MailStack, fresh_mailbox: FreshMailbox
) -> None:
    support = fresh_mailbox("support")

    first = mailstack.append(support.login, "Tickets", b"Subject: one\r\n\r\nbody\r\n")
    second = mailstack.append(support.login, "Tickets", _message("a@b.test", "c@d.test", "two"))

    assert second > first
    assert mailstack.folder_uids(support.login, "Tickets") == [first, second]
    assert mailstack.folder_uids(support.login) == []
    assert mailstack.folder_uids(support.login, "No such folder") == []


def test_mailboxes_are_separate(mailstack: MailStack, fresh_mailbox: FreshMailbox) -> None:
    first = fresh_mailbox("support")
    second = fresh_mailbox("support")

    mailstack.append(first.login, "INBOX", b"Subject: mine\r\n\r\nbody\r\n")

    assert len(mailstack.folder_uids(first.login)) == 1
    assert mailstack.folder_uids(second.login) == []


def test_full_address_and_short_login_are_one_mailbox(
    mailstack: MailStack, fresh_mailbox: FreshMailbox
) -> None:
    support = fresh_mailbox("support")
    uid = mailstack.append(support.login, "INBOX", b"Subject: hello\r\n\r\nbody\r\n")

    with IMAPClient(support.host, port=support.imap_port, ssl=False, timeout=10) as client:
        client.login(support.address, support.password)
        client.select_folder("INBOX", readonly=True)
        assert client.search("ALL") == [uid]


def test_unknown_recipient_bounces_to_sender(
    mailstack: MailStack, fresh_mailbox: FreshMailbox
) -> None:
    carol = fresh_mailbox("carol", domain=CUSTOMER_DOMAIN)

    mailstack.send(
        _message(carol.address, "nobody@example.test", "Hello?"),
        carol.address,
        ["nobody@example.test"],
    )

    [raw] = mailstack.wait_for_messages(carol.login)
    bounce = email.message_from_bytes(raw)
    assert bounce.get_content_type() == "multipart/report"
    assert "nobody@example.test" in raw.decode(errors="replace")
