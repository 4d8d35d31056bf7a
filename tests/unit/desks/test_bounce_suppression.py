"""Which bounces may stop automatic mail to an address, for how long, and how an admin sees and
clears it: ``bounces.suppression_refused`` alone, then through the pipeline and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from test_mail_budgets import ALICE, CAROL, SUPPORT, Desk, answer, mail, make_desk

from mailtix.cli.main import main
from mailtix.decisions.bounces import suppression_refused
from mailtix.store.models import Event, OutboxItem, Suppression

__all__ = ["make_desk"]  # the fixture, imported to be used here

DAVE = "dave@example.net"  # Cc'd by carol: a participant, who sees every relay


def refused(failed: str = CAROL, authors: tuple[str, ...] = ("mailer-daemon@example.org",),
            return_path: str | None = "", reporters: tuple[str, ...] = ("example.org", ""),
            insiders: frozenset[str] = frozenset({CAROL, DAVE})) -> str | None:  # fmt: skip
    return suppression_refused(failed, authors, return_path, reporters, ["acme.example"], insiders)


def test_a_bounce_from_the_failed_domain_or_ours_with_a_null_sender_may_suppress() -> None:
    assert refused() is None
    assert refused(reporters=("", "mx2.mail.example.org")) is None  # Reporting-MTA, subdomain
    assert refused(reporters=("mail.acme.example", "")) is None  # our own MTA
    assert refused(return_path=None) is None  # no Return-Path header at all


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"authors": (DAVE,)}, "written by dave@example.net, who received that mail"),
        ({"authors": ("x@example.org", CAROL)}, "written by carol@example.org"),
        ({"return_path": DAVE}, "not sent from a null sender"),
        ({"reporters": ("example.net", "mx.example.net")}, "reported by example.net, mx.exa"),
        ({"reporters": ("badexample.org", "")}, "neither example.org nor one of ours"),
        ({"reporters": ("", "")}, "reported by no domain"),
    ],
)
def test_a_bounce_a_co_recipient_could_write_suppresses_no_one(
    kwargs: dict[str, object], why: str
) -> None:
    found = refused(**kwargs)  # type: ignore[arg-type]
    assert found is not None and why in found


def dsn(returned: str, failed: str, sender: str, return_path: str, reporting_mta: str) -> bytes:
    return (
        f"Return-Path: <{return_path}>\nFrom: Mail Delivery System <{sender}>\nTo: {SUPPORT}\n"
        "Subject: Undelivered Mail Returned to Sender\nMessage-ID: <dsn-x@mx.example.org>\n"
        "Auto-Submitted: auto-replied\nMIME-Version: 1.0\nContent-Type: multipart/report; "
        'report-type=delivery-status; boundary="B"\n\n--B\nContent-Type: text/plain\n\n'
        f"<{failed}>: 550 5.1.1 User unknown\n\n--B\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; {reporting_mta}\n\nFinal-Recipient: rfc822; {failed}\n"
        "Action: failed\nStatus: 5.1.1\n\n--B\nContent-Type: text/rfc822-headers\n\n"
        f"From: {SUPPORT}\nTo: {failed}\nMessage-ID: {returned}\n\n--B--\n"
    ).encode()


def relay_with_copy(desk: Desk) -> OutboxItem:
    """Carol writes with Dave in Cc; Alice answers; the relay goes to Carol, Cc Dave."""
    desk(mail(Cc=DAVE))
    note = OutboxItem.get(OutboxItem.kind == "notification")
    desk(answer(note, f"Alice <{ALICE}>", "Please restart the printer.\n"))
    relay = OutboxItem.get(OutboxItem.kind == "relay")
    assert relay.recipients == [CAROL, DAVE]
    return relay


def acks_to_carol() -> int:
    query = OutboxItem.select().where(OutboxItem.kind == "acknowledgement")
    return query.where(OutboxItem.recipient_key == CAROL).count()


@pytest.mark.parametrize(
    ("sender", "return_path", "mta"),
    [
        (DAVE, DAVE, "mx.example.net"),  # dave, plainly
        ("mailer-daemon@example.net", "", "mx.example.net"),  # his own domain's "daemon"
        ("mailer-daemon@example.org", DAVE, "mx.example.org"),  # not a null sender
    ],
    ids=["as-himself", "from-his-domain", "not-null-sender"],
)
def test_a_co_recipients_forged_dsn_for_a_relay_suppresses_no_one(
    make_desk: Callable[..., Desk], sender: str, return_path: str, mta: str
) -> None:
    desk = make_desk()
    relay = relay_with_copy(desk)
    outcome = desk(dsn(relay.message_id, CAROL, sender, return_path, mta))
    assert outcome.kind == "followup"  # filed on the ticket as a bounce, as before
    assert Suppression.select().count() == 0
    (why,) = Event.select().where(Event.type == "not-suppressed")
    assert why.detail.startswith(f"{CAROL}: ")
    desk(mail(subject="New question"))
    assert acks_to_carol() == 2  # carol still gets her acknowledgements


def test_a_plausible_dsn_suppresses_for_suppression_days_then_mail_goes_again(
    make_desk: Callable[..., Desk],
) -> None:
    desk = make_desk(tickets="suppression_days = 10")
    relay = relay_with_copy(desk)
    desk(dsn(relay.message_id, CAROL, "MAILER-DAEMON@mx.example.org", "", "mx.example.org"))
    assert [s.address for s in Suppression.select()] == [CAROL]
    (undeliverable,) = Event.select().where(Event.type == "undeliverable")
    assert "no automatic mail for 10 days" in undeliverable.detail
    desk.advance(days=9)
    desk(mail(subject="Still broken"))
    assert acks_to_carol() == 1  # held back
    desk.advance(days=2)
    desk(mail(subject="Broken again"))
    assert acks_to_carol() == 2  # expired


def test_suppressions_are_listed_and_cleared_by_the_cli(
    make_desk: Callable[..., Desk], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    desk = make_desk()
    relay = relay_with_copy(desk)
    desk(dsn(relay.message_id, CAROL, "MAILER-DAEMON@mx.example.org", "", "mx.example.org"))
    config = ["--config", str(tmp_path / "mailtix.toml")]
    capsys.readouterr()
    assert main([*config, "outbox", "suppressions", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["address"], row["ticket"]) == (CAROL, "SUP-1")
    assert row["reason"].startswith("permanent failure of <") and row["until"]
    assert main([*config, "outbox", "suppressions"]) == 0
    assert CAROL in capsys.readouterr().out
    assert main([*config, "outbox", "unsuppress", CAROL.upper()]) == 0
    assert "goes to it again" in capsys.readouterr().out
    assert main([*config, "outbox", "suppressions", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main([*config, "outbox", "unsuppress", CAROL]) == 2
    assert "is not suppressed" in capsys.readouterr().err
