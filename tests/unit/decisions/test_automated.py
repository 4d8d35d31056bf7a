"""Unit tests for mailtix.decisions.automated.classify on hand-built ParsedMail values and
fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailtix.decisions.automated import classify
from mailtix.domain.values import Address, ParsedMail
from mailtix.inbound.parse import parse_message

MAILS = Path(__file__).parents[2] / "data" / "mails"


def mail(
    *headers: tuple[str, str],
    sender: str | None = "customer@example.com",
    subject: str = "Help please",
    return_path: str | None = None,
) -> ParsedMail:
    return ParsedMail(
        message_id="<m@example.com>",
        subject=subject,
        sender=Address(sender) if sender else None,
        headers=tuple((name.lower(), value) for name, value in headers),
        return_path=return_path,
    )


@pytest.mark.parametrize(
    ("fixture", "kind"),
    [
        ("plain-customer.eml", "human"),
        ("html-only.eml", "human"),
        ("auto-replied.eml", "auto-reply"),
        ("list-mail.eml", "list"),
        ("dsn-bounce.eml", "bounce"),
        ("subject-template.eml", "human"),
    ],
)
def test_fixtures(fixture: str, kind: str) -> None:
    assert classify(parse_message((MAILS / fixture).read_bytes())).kind == kind


def test_human() -> None:
    verdict = classify(mail())
    assert verdict.kind == "human" and not verdict.automated


def test_own_address_wins() -> None:
    own = frozenset({"support@example.org"})
    verdict = classify(mail(("Auto-Submitted", "auto-replied"), sender="support@example.org"), own)
    assert verdict.kind == "own" and verdict.reason == "From: support@example.org"


@pytest.mark.parametrize(
    ("headers", "kwargs", "kind", "reason"),
    [
        (
            [("Content-Type", 'multipart/report; report-type="delivery-status"; boundary=x')],
            {},
            "bounce",
            "Content-Type: multipart/report; report-type=delivery-status",
        ),
        ([], {"return_path": "", "sender": "MAILER-DAEMON@mx.example.org".lower()}, "bounce", ""),
        ([], {"sender": "postmaster@example.org", "subject": "Undeliverable: Hi"}, "bounce", ""),
        ([("Auto-Submitted", "auto-replied")], {}, "auto-reply", "Auto-Submitted: auto-replied"),
        ([("X-Autoreply", "yes")], {}, "auto-reply", "x-autoreply: yes"),
        ([("X-Autorespond", "Out of office")], {}, "auto-reply", ""),
        ([("Precedence", "auto_reply")], {}, "auto-reply", "Precedence: auto_reply"),
        ([], {"subject": "Out of Office: Help please"}, "auto-reply", ""),
        ([], {"subject": "Automatic reply: Help"}, "auto-reply", ""),
        ([], {"subject": "Abwesenheitsnotiz: Anfrage"}, "auto-reply", ""),
        ([], {"subject": "AUTO: Ich bin nicht da"}, "auto-reply", ""),
        ([("List-Id", "<x.lists.example.net>")], {}, "list", "list-id: <x.lists.example.net>"),
        ([("List-Unsubscribe", "<mailto:x@example.net>")], {}, "list", ""),
        ([("List-Post", "<mailto:x@example.net>")], {}, "list", ""),
        ([("Precedence", "list")], {}, "list", "Precedence: list"),
        ([("Precedence", "bulk")], {}, "bulk", "Precedence: bulk"),
        ([("Precedence", "junk")], {}, "bulk", "Precedence: junk"),
        ([("Auto-Submitted", "auto-generated")], {}, "bulk", "Auto-Submitted: auto-generated"),
        ([], {"return_path": ""}, "system", "Return-Path: <>"),
        ([], {"sender": "noreply@example.com"}, "system", "From: noreply@"),
        ([], {"sender": "do-not-reply@example.com"}, "system", ""),
        ([], {"sender": "users-request@lists.example.net"}, "system", ""),
        ([], {"sender": "owner-users@lists.example.net"}, "system", ""),
        ([], {"sender": "listserv@example.edu"}, "system", ""),
    ],
)
def test_kinds(
    headers: list[tuple[str, str]], kwargs: dict[str, str], kind: str, reason: str
) -> None:
    verdict = classify(mail(*headers, **kwargs))
    assert verdict.kind == kind
    assert verdict.reason == reason or (not reason and verdict.reason)


@pytest.mark.parametrize(
    "headers",
    [
        [("Auto-Submitted", "no")],
        [("X-Auto-Response-Suppress", "All")],
        [("X-Auto-Response-Suppress", "OOF, AutoReply")],
        [("Precedence", "first-class")],
    ],
)
def test_not_evidence_of_automation(headers: list[tuple[str, str]]) -> None:
    assert classify(mail(*headers)).kind == "human"


@pytest.mark.parametrize(
    "subject", ["Re: auto insurance question", "Office out of paper", "My autoreply is broken"]
)
def test_subject_rules_are_conservative(subject: str) -> None:
    assert classify(mail(subject=subject)).kind == "human"


def test_order_bounce_before_auto_reply_before_list() -> None:
    report = ("Content-Type", "multipart/report; report-type=delivery-status")
    both = mail(report, ("Auto-Submitted", "auto-replied"), ("List-Id", "<x>"))
    assert classify(both).kind == "bounce"
    assert classify(mail(("Auto-Submitted", "auto-replied"), ("List-Id", "<x>"))).kind == (
        "auto-reply"
    )
    assert classify(mail(("List-Id", "<x>"), ("Precedence", "bulk"))).kind == "list"


def test_no_sender_is_not_a_crash() -> None:
    assert classify(mail(sender=None)).kind == "human"


@pytest.mark.parametrize(
    ("value", "refused"),
    [("All", True), ("AutoReply", True), ("DR, NDR, AutoReply", True), ("oof,ALL", True),
     ("OOF", False), ("DR, NDR, RN, NRN, OOF", False), ("", False)],
)  # fmt: skip
def test_x_auto_response_suppress_refuses_replies_only_for_all_or_autoreply(
    value: str, refused: bool
) -> None:
    """MS-OXCMAIL: All and AutoReply ask for no automatic reply; the mail is still a person's."""
    from mailtix.decisions.automated import responses_refused

    message = mail(("X-Auto-Response-Suppress", value))
    assert (responses_refused(message) is not None) is refused
    assert classify(message).kind == "human"
