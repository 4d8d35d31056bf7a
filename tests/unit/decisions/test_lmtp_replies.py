"""Which mailbox an LMTP recipient is, and what each recipient is answered."""

from __future__ import annotations

from pathlib import Path

from mailtix.config.model import MailboxConfig
from mailtix.decisions import lmtp_replies as replies
from mailtix.decisions.lmtp_replies import RecipientMap


def boxes() -> list[MailboxConfig]:
    return [
        MailboxConfig(name="support", address="support@acme.example", maildir=Path("a")),
        MailboxConfig(name="sales", address="sales-team@acme.example", maildir=Path("b")),
    ]


def test_a_mailbox_is_found_in_any_case_and_with_a_tag() -> None:
    found = RecipientMap.of(boxes())
    assert found.mailbox_for("support@acme.example") == "support"
    assert found.mailbox_for("Support@ACME.Example") == "support"
    assert found.mailbox_for("<support@acme.example>") == "support"
    assert found.mailbox_for("support+billing@acme.example") == "support"
    assert found.mailbox_for("SUPPORT+Billing+x@acme.example") == "support"
    assert found.mailbox_for("sales-team@acme.example") == "sales"


def test_an_address_of_no_mailbox_is_none() -> None:
    found = RecipientMap.of(boxes())
    assert found.mailbox_for("support@other.example") is None
    assert found.mailbox_for("supportx@acme.example") is None
    assert found.mailbox_for("x+support@acme.example") is None
    assert found.mailbox_for("support") is None
    assert found.mailbox_for("") is None


def test_the_delimiter_is_configurable_and_can_be_off() -> None:
    dash = RecipientMap.of(boxes(), "-")
    assert dash.mailbox_for("support-billing@acme.example") == "support"
    assert dash.mailbox_for("sales-team@acme.example") == "sales"  # its own address first
    assert dash.mailbox_for("support+billing@acme.example") is None
    off = RecipientMap.of(boxes(), "")
    assert off.mailbox_for("support+billing@acme.example") is None
    assert off.mailbox_for("support@acme.example") == "support"


def test_an_idn_domain_is_one_mailbox_however_spelled() -> None:
    found = RecipientMap.of(
        [MailboxConfig(name="m", address="hilfe@münchen.example", maildir=Path("m"))]
    )
    assert found.mailbox_for("hilfe@xn--mnchen-3ya.example") == "m"
    assert found.mailbox_for("Hilfe@München.example") == "m"


def test_rcpt_replies() -> None:
    assert replies.rcpt_reply(None, 0).startswith("550 5.1.1 ")
    assert replies.rcpt_reply("support", 0).startswith("250 ")
    assert replies.rcpt_reply("support", replies.MAX_RECIPIENTS - 1).startswith("250 ")
    assert replies.rcpt_reply("support", replies.MAX_RECIPIENTS).startswith("452 4.5.3 ")


def test_size_is_refused_only_over_the_limit() -> None:
    assert not replies.too_big(1024, 1024)
    assert replies.too_big(1025, 1024)
    assert replies.TOO_BIG.startswith("552 5.3.4 ")


def test_every_kept_outcome_is_250_and_everything_else_451() -> None:
    for kind in ("ticket", "followup", "ignored", "spam", "duplicate", "quarantined"):
        assert replies.delivered_reply(kind, None) == f"250 2.0.0 {kind}"
    assert replies.delivered_reply("ticket", "SUP-42") == "250 2.0.0 ticket SUP-42"
    assert replies.delivered_reply("deferred", None).startswith("451 4.3.0 ")
    assert replies.delivered_reply(None).startswith("451 4.3.0 ")
    assert replies.delivered_reply("anything new").startswith("451 ")


def test_no_reply_carries_a_line_break_or_odd_ref() -> None:
    assert replies.delivered_reply("ticket", "SUP-1\r\n250 x") == "250 2.0.0 ticket"
    for reply in (replies.ACCEPTED, replies.UNKNOWN, replies.TOO_MANY, replies.TOO_BIG,
                  replies.TRY_LATER, replies.TOO_BUSY, replies.SHUTTING_DOWN):  # fmt: skip
        assert "\r" not in reply and "\n" not in reply and reply.isascii()
