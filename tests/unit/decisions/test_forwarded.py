"""Finding the customer in a mail an agent forwarded to the support address."""

from __future__ import annotations

from mailtix.decisions.forwarded import forwarded_sender, strip_forward_prefix
from mailtix.domain.values import Address, Attachment, ParsedMail
from mailtix.inbound.parse import parse_message

AGENTS = {"alice@acme.example", "support@acme.example"}


def mail(text: str, attachments: tuple[Attachment, ...] = ()) -> ParsedMail:
    return ParsedMail(
        message_id=None,
        subject="Fwd: printer",
        sender=Address("alice@acme.example"),
        text=text,
        attachments=attachments,
    )


def test_gmail_style_forward() -> None:
    text = (
        "FYI\n\n---------- Forwarded message ---------\n"
        "From: Carol Customer <Carol@Example.org>\nDate: Mon, 23 Nov 2026\n"
        "Subject: printer\nTo: <alice@acme.example>\n\nIt jams.\n"
    )
    assert forwarded_sender(mail(text), AGENTS) == Address("carol@example.org", "Carol Customer")


def test_outlook_german_and_bold_markers() -> None:
    text = "________________________________\n*Von:* Dave <dave@bigcorp.example>\n*Gesendet:* x\n"
    assert forwarded_sender(mail(text), AGENTS) == Address("dave@bigcorp.example", "Dave")


def test_agents_and_mailboxes_are_never_the_customer() -> None:
    text = "From: Alice <alice@acme.example>\n\n> From: Carol <carol@example.org>\n"
    assert forwarded_sender(mail(text), AGENTS) == Address("carol@example.org", "Carol")


def test_attached_original_wins() -> None:
    original = b"From: Erin <erin@example.net>\r\nSubject: x\r\n\r\nbody\r\n"
    item = Attachment("original.eml", "message/rfc822", original)
    found = forwarded_sender(mail("From: x <x@example.com>", (item,)), AGENTS, parse_message)
    assert found == Address("erin@example.net", "Erin")


def test_nothing_found() -> None:
    assert forwarded_sender(mail("Please look at this."), AGENTS) is None


def test_strip_forward_prefix() -> None:
    assert strip_forward_prefix("Fwd: WG: Printer broken") == "Printer broken"
    assert strip_forward_prefix("FW:") == "FW:"
