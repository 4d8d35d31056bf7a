"""Outgoing headers carry no bidi embedding, override or isolate from the customer's text."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

from mailtix.domain.values import Address, OutgoingMail
from mailtix.outbound.compose import compose

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
BIDI = [*map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))]


def test_bidi_overrides_in_a_subject_and_a_name_become_spaces() -> None:
    for char in BIDI:
        mail = OutgoingMail(
            sender=Address("support@example.com", "Example Support"),
            to=(Address("carol@example.org", f"Carol{char}moc.live"),),
            subject=f"[SUP-42] Your invoice{char}fdp.exe",
            text="Hello\n",
            html="<p>Hello</p>\n",
            message_id="<ack-1@example.com>",
        )
        message = email.message_from_bytes(compose(mail, now=NOW), policy=email.policy.default)
        assert message["Subject"] == "[SUP-42] Your invoice fdp.exe", hex(ord(char))
        assert str(message["To"]) == '"Carol moc.live" <carol@example.org>'
