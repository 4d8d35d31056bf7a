"""The X-Mailer header: written only when ``[tickets] x_mailer`` is on, naming mailtix and its
version; never taken from a mail's extra headers, never carrying a line break."""

from __future__ import annotations

import email
import email.policy
import mailbox
import subprocess
import sys
from pathlib import Path

import pytest
from support.config import small_config

from mailtix.domain.values import Address, OutgoingMail
from mailtix.domain.version import mailtix_version
from mailtix.outbound.compose import compose
from tests.support.live import customer_mail

MAIL = OutgoingMail(
    sender=Address("support@acme.test", "ACME Support"),
    to=(Address("carol@customer.test", "Carol"),),
    subject="[SUP-1] Printer",
    text="Hello\n",
    html="<p>Hello</p>\n",
    message_id="<1@acme.test>",
    extra_headers=(("X-Mailer", "forged 1.0"),),
)


def headers(raw: bytes) -> list[str]:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return [str(value) for value in parsed.get_all("X-Mailer", [])]


def test_compose_writes_x_mailer_only_when_given_and_on_one_line() -> None:
    assert headers(compose(MAIL)) == []
    assert headers(compose(MAIL, mailer="mailtix 1.2.3")) == ["mailtix 1.2.3"]
    raw = compose(MAIL, mailer="mailtix 1\r\nBcc: eve@evil.test")
    assert b"\r\nBcc:" not in raw and headers(raw) == ["mailtix 1 Bcc: eve@evil.test"]


@pytest.mark.parametrize("setting, expected", [("", []), ("x_mailer = true", ["mailtix {v}"])])
def test_the_acknowledgement_names_mailtix_only_when_the_admin_says(
    tmp_path: Path, setting: str, expected: list[str]
) -> None:
    small_config(tmp_path, address="support@acme.test", extra=f"[tickets]\n{setting}")
    inbox = mailbox.Maildir(tmp_path / "inbox", create=True)
    inbox.add(customer_mail("carol@customer.test", "support@acme.test", "Printer").as_bytes())
    proc = subprocess.run(
        [sys.executable, "-m", "mailtix", "--config", str(tmp_path / "mailtix.toml"), "poll",
         "--once"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sent = mailbox.Maildir(tmp_path / "outgoing", create=False)
    (raw,) = [sent.get_bytes(key) for key in sent.iterkeys()]
    assert headers(raw) == [e.format(v=mailtix_version()) for e in expected]
