"""The Maildir sink used by the demo (tmp_path) and the sender factory."""

from __future__ import annotations

import asyncio
import mailbox
from pathlib import Path

import pytest

from mailtix.config.model import SmtpConfig
from mailtix.domain.errors import SendError
from mailtix.outbound.maildir_sink import MaildirSink
from mailtix.outbound.senders import open_sender
from mailtix.outbound.smtp_sender import SmtpSender

RAW = b"From: support@example.com\r\nTo: carol@example.org\r\nSubject: hi\r\n\r\nbody\r\n"


def deliver(path: Path, *messages: tuple[str, list[str], bytes]) -> None:
    async def run() -> None:
        async with MaildirSink(path) as sink:
            for envelope_from, recipients, raw in messages:
                await sink.send(envelope_from, recipients, raw)

    asyncio.run(run())


def test_each_message_becomes_one_new_maildir_file(tmp_path: Path) -> None:
    path = tmp_path / "outgoing"
    deliver(
        path,
        ("support@example.com", ["carol@example.org"], RAW),
        ("support@example.com", ["dave@example.org", "erin@example.org"], RAW),
    )
    assert (path / "new").is_dir() and (path / "cur").is_dir() and (path / "tmp").is_dir()
    stored = sorted((m for m in mailbox.Maildir(path, create=False)), key=lambda m: len(str(m)))
    assert len(stored) == 2
    first = stored[0]
    assert first["Return-Path"] == "<support@example.com>"
    assert first.get_all("Delivered-To") == ["carol@example.org"]
    assert first["Subject"] == "hi"
    assert str(first.get_payload()).strip() == "body"
    assert stored[1].get_all("Delivered-To") == ["dave@example.org", "erin@example.org"]


def test_envelope_addresses_cannot_inject_lines(tmp_path: Path) -> None:
    deliver(tmp_path / "md", ("a@example.com\r\nX-Evil: 1", ["b@example.org\nBcc: c"], RAW))
    [message] = list(mailbox.Maildir(tmp_path / "md", create=False))
    assert message["X-Evil"] is None and message["Bcc"] is None
    assert message["Return-Path"] == "<a@example.comX-Evil:1>"


def test_no_recipients_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(SendError, match="no recipients") as caught:
        deliver(tmp_path / "md", ("a@example.com", [], RAW))
    assert caught.value.permanent


def test_unwritable_maildir_is_a_temporary_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SendError, match="Maildir") as caught:
        deliver(blocker / "md", ("a@example.com", ["b@example.org"], RAW))
    assert not caught.value.permanent


def test_open_sender_picks_maildir_when_configured(tmp_path: Path) -> None:
    assert isinstance(open_sender(SmtpConfig(maildir=tmp_path / "md")), MaildirSink)
    assert isinstance(open_sender(SmtpConfig(host="smtp.example.com")), SmtpSender)
