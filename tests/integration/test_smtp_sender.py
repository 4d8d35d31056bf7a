"""SmtpSender against real servers: the private Postfix, and tiny local TLS servers whose
self-signed certificate must be refused (never a fall-back to plain text)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from support.certificate import server_context
from support.mailstack import CUSTOMER_DOMAIN, Mailbox, MailStack

from mailtix.config.model import SmtpConfig
from mailtix.domain.errors import SendError
from mailtix.domain.values import Address, OutgoingMail
from mailtix.outbound import sent_marks, smtp_sender
from mailtix.outbound.compose import compose, envelope_recipients, make_message_id
from mailtix.outbound.smtp_sender import SmtpSender

pytestmark = pytest.mark.integration

FreshMailbox = Callable[..., Mailbox]


def smtp(stack: MailStack, security: str = "none") -> SmtpConfig:
    return SmtpConfig(host=stack.host, port=stack.smtp_port, security=security, timeout=10)


def send(config: SmtpConfig, envelope_from: str, recipients: list[str], raw: bytes) -> None:
    async def run() -> None:
        async with SmtpSender(config) as sender:
            await sender.send(envelope_from, recipients, raw)

    asyncio.run(run())


def acknowledgement(sender: str, recipient: str) -> OutgoingMail:
    return OutgoingMail(
        sender=Address(sender, "Example Support"),
        to=(Address(recipient, "Carol Müller"),),
        subject="[SUP-42] Grüße {{ 7*7 }}\r\nBcc: evil@example.test",
        text="Hello Carol,\n.\nthanks.\n",
        html="<p>Hello Carol,</p>\n",
        message_id=make_message_id("example.test"),
        auto_submitted="auto-replied",
    )


def test_composed_mail_arrives_intact(mailstack: MailStack, fresh_mailbox: FreshMailbox) -> None:
    carol = fresh_mailbox("carol", domain=CUSTOMER_DOMAIN)
    mail = acknowledgement("support@example.test", carol.address)
    send(smtp(mailstack), "support@example.test", envelope_recipients(mail), compose(mail))

    [raw] = mailstack.wait_for_messages(carol.login)
    received = email.message_from_bytes(raw, policy=email.policy.default)
    assert received["Subject"] == "[SUP-42] Grüße {{ 7*7 }} Bcc: evil@example.test"
    assert received["Message-ID"] == mail.message_id
    assert received["Auto-Submitted"] == "auto-replied"
    assert received["Bcc"] is None
    body = received.get_body(("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == "Hello Carol,\n.\nthanks.\n"


async def check_connection(config: SmtpConfig) -> None:
    """Connect, EHLO, STARTTLS and log in as configured, then QUIT, as check --connect does."""
    async with SmtpSender(config):
        pass


def test_check_connection_succeeds(mailstack: MailStack) -> None:
    asyncio.run(check_connection(smtp(mailstack)))


def test_rejected_recipient_is_permanent(mailstack: MailStack) -> None:
    with pytest.raises(SendError) as caught:
        send(smtp(mailstack), "support@example.test", ["someone@unknown-domain.invalid"], b"x\r\n")
    assert caught.value.permanent
    assert str(caught.value).startswith("someone@unknown-domain.invalid: 550 5.1.1")


def test_bad_recipient_syntax_is_permanent(mailstack: MailStack) -> None:
    with pytest.raises(SendError, match="501 5.1.3") as caught:
        send(smtp(mailstack), "support@example.test", ["x@-bad-.example.test"], b"x\r\n")
    assert caught.value.permanent


def test_oversized_message_is_permanent(mailstack: MailStack, fresh_mailbox: FreshMailbox) -> None:
    carol = fresh_mailbox("carol", domain=CUSTOMER_DOMAIN)
    raw = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 11_000  # over Postfix's 10 MB
    with pytest.raises(SendError, match="552 5.3.4") as caught:
        send(smtp(mailstack), "support@example.test", [carol.address], raw)
    assert caught.value.permanent


def test_non_ascii_address_without_server_smtputf8_is_permanent(mailstack: MailStack) -> None:
    with pytest.raises(SendError, match="SMTPUTF8") as caught:
        send(smtp(mailstack), "support@example.test", ["jörg@customer.test"], b"x\r\n")
    assert caught.value.permanent


def test_starttls_required_but_not_offered_fails_closed(mailstack: MailStack) -> None:
    with pytest.raises(SendError) as caught:
        send(smtp(mailstack, "starttls"), "support@example.test", ["a@customer.test"], b"x\r\n")
    assert caught.value.permanent
    assert "TLS" in str(caught.value) and "plain text" in str(caught.value)
    with pytest.raises(SendError, match="TLS failed"):
        asyncio.run(check_connection(smtp(mailstack, "starttls")))


def test_unreachable_server_is_a_temporary_connect_error() -> None:
    config = SmtpConfig(host="127.0.0.1", port=9, security="none", timeout=5)
    with pytest.raises(SendError, match="cannot connect") as caught:
        asyncio.run(check_connection(config))
    assert not caught.value.permanent


# -- a self-signed certificate must stop both TLS modes ----------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    try:
        return server_context(tmp_path_factory.mktemp("tls"))
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make a test certificate: {exc}")


@asynccontextmanager
async def tiny_smtp_server(context: ssl.SSLContext, implicit_tls: bool) -> AsyncIterator[int]:
    """Greets, offers STARTTLS and upgrades; implicit_tls does TLS from the first byte."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 tiny ESMTP\r\n")
        try:
            while line := await reader.readline():
                verb = line.split()[0].upper() if line.split() else b""
                if verb == b"EHLO":
                    writer.write(b"250-tiny\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n")
                elif verb == b"STARTTLS":
                    writer.write(b"220 go ahead\r\n")
                    await writer.drain()
                    await writer.start_tls(context)
                elif verb == b"DATA":
                    writer.write(b"354 go on\r\n")
                    while await reader.readline() not in (b".\r\n", b""):
                        pass
                    writer.write(b"250 queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    break
                else:
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        except (OSError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(
        handle, "127.0.0.1", 0, ssl=context if implicit_tls else None
    )
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_self_signed_certificate_is_refused(self_signed: ssl.SSLContext, security: str) -> None:
    async def run() -> None:
        async with tiny_smtp_server(self_signed, implicit_tls=security == "tls") as port:
            config = SmtpConfig(
                host="127.0.0.1", port=port, security=security, username="u", password="pw"
            )
            async with SmtpSender(config) as sender:
                await sender.send("a@example.test", ["b@example.test"], b"x\r\n")

    with pytest.raises(SendError) as caught:
        asyncio.run(run())
    assert caught.value.permanent
    assert str(caught.value).startswith("TLS failed: ")
    assert "certificate verify failed" in str(caught.value)
    assert str(caught.value).endswith("(refusing to send in plain text)")


def test_tiny_server_works_without_tls_so_the_refusal_is_about_the_certificate(
    self_signed: ssl.SSLContext,
) -> None:
    async def run() -> None:
        async with tiny_smtp_server(self_signed, implicit_tls=False) as port:
            config = SmtpConfig(host="127.0.0.1", port=port, security="none")
            async with SmtpSender(config) as sender:
                await sender.send("a@example.test", ["b@example.test"], b"x\r\n")

    asyncio.run(run())


def test_several_connections_overlap_envelopes_but_never_two_data_commands(
    mailstack: MailStack, fresh_mailbox: FreshMailbox, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The crash bound with ``[smtp] connections`` > 1: the connections of one drain work on
    their envelopes at the same time, but the server is only ever taking one message (DATA)
    that is not yet marked sent; so a crash can repeat one acknowledgement, not one per
    connection. Counted on the real Postfix, over 24 mails and 3 connections."""
    from mailtix.outbound import outbox
    from mailtix.store.db import open_store
    from mailtix.store.models import OutboxItem

    box = fresh_mailbox("handover")
    db = open_store(f"sqlite:///{tmp_path / 'mailtix.db'}")
    now = datetime(2026, 11, 23, 10, 0)
    for _ in range(24):
        mail = acknowledgement("support@example.test", box.address)
        OutboxItem.create(
            kind="acknowledgement", envelope_from="support@example.test",
            recipients=[box.address], recipient_key=box.address, message_id=mail.message_id,
            rfc822=compose(mail), next_attempt_at=now, created_at=now,
        )  # fmt: skip
    busy = {"data": 0, "sendmail": 0}
    most = {"data": 0, "sendmail": 0, "unmarked": 0}
    accepted_unmarked = 0
    plain_hand_over, plain_mail = smtp_sender._Client.hand_over, smtp_sender._Client.mail_one
    real_mark = sent_marks.JournalMarks.mark

    async def counted(kind: str, call: Any) -> Any:
        busy[kind] += 1
        most[kind] = max(most[kind], busy[kind])
        try:
            return await call
        finally:
            busy[kind] -= 1

    async def hand_over(self: Any, send: Any) -> Any:
        async def sent() -> Any:  # the message itself (DATA, or after a pipelined 354)
            nonlocal accepted_unmarked
            response = await counted("data", send())
            accepted_unmarked += 1  # the server has it; the mark comes next
            most["unmarked"] = max(most["unmarked"], accepted_unmarked)
            return response

        return await plain_hand_over(self, sent)

    def mark(self: Any, item: Any, when: Any) -> None:
        nonlocal accepted_unmarked
        real_mark(self, item, when)
        accepted_unmarked -= 1

    monkeypatch.setattr(smtp_sender._Client, "hand_over", hand_over)
    monkeypatch.setattr(
        smtp_sender._Client,
        "mail_one",
        lambda self, *a, **k: counted("sendmail", plain_mail(self, *a, **k)),
    )
    monkeypatch.setattr(sent_marks.JournalMarks, "mark", mark)
    try:
        config = SmtpConfig(host=mailstack.host, port=mailstack.smtp_port, security="none",
                            timeout=10, connections=3)  # fmt: skip
        counts = outbox.drain(config, lambda: now)
    finally:
        db.close()
    print(f"\nmost at once: {most}")
    assert counts["sent"] == 24
    assert most["sendmail"] > 1  # the connections really did work side by side
    assert most["data"] == 1 and most["unmarked"] == 1
    mailstack.wait_for_messages(box.login, count=24)


def test_a_failure_to_record_an_accepted_mail_is_not_taken_for_a_send_failure(
    mailstack: MailStack, fresh_mailbox: FreshMailbox
) -> None:
    """The server took the mail but the store cannot mark it: the drain must stop on the store's
    error (not count a failed send, retry it later and go on sending every row twice)."""
    box = fresh_mailbox("unrecorded")
    raw = compose(acknowledgement("support@example.test", box.address))

    def broken_store() -> None:
        raise OSError("disk gone")

    async def run() -> None:
        async with SmtpSender(smtp(mailstack)) as sender:
            await sender.send("support@example.test", [box.address], raw, broken_store)

    with pytest.raises(OSError, match="disk gone"):
        asyncio.run(run())
    mailstack.wait_for_messages(box.login, count=1)  # it was sent: exactly what made it matter
