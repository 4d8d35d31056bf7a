"""Pure decisions of abuse-proof automatic mail: which acknowledgement, trusted spam headers,
blocked attachments."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailtix.config.load import load_config
from mailtix.config.model import BLOCKED_ATTACHMENTS
from mailtix.decisions import acknowledgement, attachments, spam
from mailtix.domain.errors import ConfigError
from mailtix.domain.values import Address, Attachment, ParsedMail

MX = "mx.example.test"


def mail(*headers: tuple[str, str], sender: str = "carol@customer.test") -> ParsedMail:
    return ParsedMail(message_id=None, subject="s", sender=Address(sender), headers=headers)


def results(text: str) -> tuple[str, str]:
    return ("authentication-results", f"{MX}; {text}")


def test_acknowledgement_forms() -> None:
    passed = mail(results("dmarc=pass header.from=customer.test"))
    forged = mail(results("dmarc=fail header.from=customer.test"))
    assert acknowledgement.form("always", forged, [MX]).template == acknowledgement.FULL
    assert acknowledgement.form("never", passed, [MX]).template is None
    assert acknowledgement.form("authenticated", passed, [MX]).template == acknowledgement.FULL
    assert acknowledgement.form("authenticated", forged, [MX]).template == acknowledgement.BARE
    assert acknowledgement.form("authenticated", mail(), [MX]).template == acknowledgement.BARE
    other = mail(("authentication-results", "evil.example; dmarc=pass header.from=customer.test"))
    assert acknowledgement.form("authenticated", other, [MX]).template == acknowledgement.BARE
    assert acknowledgement.form("authenticated", passed, []).template == acknowledgement.BARE


@pytest.mark.parametrize(
    ("header", "value"),
    [("x-spam-flag", "YES"), ("x-spam-status", "Yes, score=9.1 required=5.0"), ("x-spam", "yes")],
)
def test_spam_headers_above_the_trusted_results_count(header: str, value: str) -> None:
    flagged = mail((header, value), results("dmarc=none"))
    assert spam.flagged(flagged, [MX]) is not None
    assert spam.flagged(mail(results("dmarc=none"), (header, value)), [MX]) is None  # below
    assert spam.flagged(flagged, []) is None  # no trusted MX: no header counts


def test_spam_header_saying_no_or_above_an_untrusted_results_is_no_spam() -> None:
    assert (
        spam.flagged(mail(("x-spam-status", "No, score=0.1"), results("dmarc=none")), [MX]) is None
    )
    untrusted = ("authentication-results", "evil.example; dmarc=none")
    assert spam.flagged(mail(("x-spam", "Yes"), untrusted), [MX]) is None
    assert spam.flagged(mail(("x-spam", "Yes")), [MX]) is None


def attachment(name: str, content: bytes = b"hello", kind: str = "text/plain") -> Attachment:
    return Attachment(name, kind, content)


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("invoice.pdf.exe", b"MZ..", "double extension .pdf.exe"),
        ("tool.EXE", b"x", "blocked extension .exe"),
        ("run.exe. ", b"x", "blocked extension .exe"),
        ("readme.js", b"alert(1)", "blocked extension .js"),
        ("budget.xlsm", b"PK", "blocked extension .xlsm"),
        ("photo.jpg", b"MZ\x90\x00", "content is a Windows executable"),
        ("notes.txt", b"#!/bin/sh\nrm -rf ~\n", "content is a script"),
        ("a.bin", b"\x7fELF\x02", "content is an ELF executable"),
        ("report.docx", b"PK\x03\x04....word/vbaProject.bin....", "with macros"),
        ("cd.dat", bytes(0x8001) + b"CD001", "disk image"),
        ("invoice\u202efdp.exe", b"x", "text-direction override"),
        ("invoice\u202egpj.txt", b"x", "text-direction override"),
    ],
)
def test_blocked_attachments(name: str, content: bytes, why: str) -> None:
    found = attachments.blocked_reason(attachment(name, content), BLOCKED_ATTACHMENTS)
    assert found is not None and why in found


@pytest.mark.parametrize(
    "name", ["report.pdf", "photo.jpg", "sheet.xlsx", "archive.tar.gz", "exe", "my.js.txt"]
)
def test_harmless_attachments_pass(name: str) -> None:
    item = attachment(name, b"%PDF-1.4 or any plain bytes")
    assert attachments.blocked_reason(item, BLOCKED_ATTACHMENTS) is None


def test_split_keeps_order_and_says_why() -> None:
    items = [attachment("a.pdf"), attachment("b.exe"), attachment("c.txt")]
    kept, withheld = attachments.split(items, [".EXE"])
    assert [a.filename for a in kept] == ["a.pdf", "c.txt"]
    assert withheld == (("b.exe", "blocked extension .exe"),)


def test_a_mailbox_acknowledge_overrides_the_tickets_one(tmp_path: Path) -> None:
    path = tmp_path / "mailtix.toml"
    path.write_text(
        '[tickets]\nacknowledge = "authenticated"\n\n[smtp]\nmaildir = "out"\n\n'
        '[[mailbox]]\nname = "a"\naddress = "a@example.test"\nmaildir = "a"\n\n'
        '[[mailbox]]\nname = "b"\naddress = "b@example.test"\nmaildir = "b"\n'
        'acknowledge = "never"\n'
    )
    config = load_config(path)
    a, b = config.mailboxes
    assert acknowledgement.mode(config, a) == "authenticated"
    assert acknowledgement.mode(config, b) == "never"
    path.write_text(path.read_text().replace('"never"', '"sometimes"'))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert any("acknowledge" in line for line in raised.value.problems)


def test_a_blocked_entry_with_a_slash_is_a_declared_type() -> None:
    item = attachment("setup.bin", b"x", "Application/X-MSDownload")
    assert attachments.blocked_reason(item, ["application/x-msdownload"]) == (
        "blocked type application/x-msdownload"
    )
    assert attachments.blocked_reason(item, BLOCKED_ATTACHMENTS) is None
