"""Hostile LMTP input on the real in-process server (aiosmtpd on loopback, a SQLite store): a
Message-ID reused to make the ledger drop a different mail as a "duplicate", bare LF, NUL
bytes and an SMTP-smuggling attempt in DATA."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import test_lmtp_server as base  # noqa: E402

app, server = base.app, base.server  # its fixtures: the server on a throwaway store
client, mail = base.client, base.mail

from mailtix.runtime.lmtp import LmtpServer  # noqa: E402
from mailtix.store.models import Message, Receipt, Ticket  # noqa: E402

SUPPORT = ["support@acme.example"]


def test_a_reused_message_id_never_drops_a_different_mail(server: LmtpServer) -> None:
    first = mail(body="Please cancel order 17.\n")
    # same Message-ID, sender and subject, other words: a careless script, or a stranger who
    # saw the first (a Cc) trying to have a later real mail thrown away (or the other way)
    second = first.replace(b"Please cancel order 17.", b"Actually, ship it twice.")
    with client(server) as lmtp:
        _, one = lmtp.deliver("carol@customer.example", SUPPORT, first)
        _, two = lmtp.deliver("carol@customer.example", SUPPORT, second, False)
    assert one[0].startswith("250 2.0.0 ticket "), one
    assert not two[0].startswith("250 2.0.0 duplicate"), two
    texts = [m.text for m in Message.select().where(Message.direction == "in")]
    assert any("ship it twice" in text for text in texts), texts


def raw_session(running: LmtpServer, data: bytes) -> list[str]:
    with client(running) as lmtp:
        lmtp.command("LHLO test.example")
        assert lmtp.command("MAIL FROM:<carol@customer.example>").startswith("250")
        assert lmtp.command("RCPT TO:<support@acme.example>").startswith("250")
        assert lmtp.command("DATA").startswith("354")
        lmtp.sock.sendall(data)
        replies = [lmtp.reply()]
        lmtp.sock.settimeout(1.0)
        try:
            while True:
                replies.append(lmtp.reply())
        except OSError:
            pass
    return replies


def test_bare_lf_and_nul_bytes_are_stored_not_retried_forever(server: LmtpServer) -> None:
    data = (b"From: carol@customer.example\nTo: support@acme.example\nSubject: nul\x00 here\n"
            b"\nline one\x00\nline two\r\n.\r\n")  # fmt: skip
    replies = raw_session(server, data)
    assert replies[0].startswith("250 2.0.0 "), replies  # ticket or quarantined, never 451
    assert Receipt.select().count() == 1


def test_smuggled_second_mail_after_bare_lf_dot_is_part_of_the_first(server: LmtpServer) -> None:
    smuggled = (b"From: carol@customer.example\r\nTo: support@acme.example\r\nSubject: one\r\n"
                b"\r\nfirst\n.\nMAIL FROM:<ceo@acme.example>\r\nRCPT TO:<support@acme.example>"
                b"\r\nDATA\r\nFrom: ceo@acme.example\r\nSubject: two\r\n\r\nwire money\r\n"
                b".\r\n")  # fmt: skip
    replies = raw_session(server, smuggled)
    assert replies[0].startswith("250 2.0.0 ticket "), replies
    assert len(replies) == 1, replies  # no answer to a smuggled MAIL/RCPT/DATA
    assert [t.subject for t in Ticket.select()] == ["one"]


def test_a_reused_message_id_cannot_pull_the_real_thread_away(server: LmtpServer) -> None:
    real = mail(subject="Invoice 17 is wrong")
    message_id = next(
        line.split(b":", 1)[1].strip().decode()
        for line in real.splitlines()
        if line.lower().startswith(b"message-id:")
    )
    # a stranger who saw that Message-ID (a Cc, an archive) forges a mail with it and Cc's
    # himself, hoping the customer's later replies (and the agents' answers) land in his ticket
    forged = mail(subject="Something else", Cc="mallory@evil.example")
    forged = forged.replace(forged.split(b"Message-ID: ")[1].split(b"\n")[0], message_id.encode())
    reply = mail("Re: Invoice 17 is wrong", "Any news?\n", **{"In-Reply-To": message_id})
    with client(server) as lmtp:
        _, one = lmtp.deliver("carol@customer.example", SUPPORT, real)
        _, two = lmtp.deliver("carol@customer.example", SUPPORT, forged, False)
        _, three = lmtp.deliver("carol@customer.example", SUPPORT, reply, False)
    assert one[0].startswith("250 2.0.0 ticket ") and two[0].startswith("250 2.0.0 ticket ")
    ref = one[0].split()[-1]
    assert three == [f"250 2.0.0 followup {ref}"], (one, two, three)
