"""Mail in an agent's name through the whole pipeline (SQLite store, Maildir sink, no servers):
what a forged agent, a stranger planting Message-IDs, an attached or quoted notification and an
agent's out-of-office answer can and cannot make mailtix do (issue 13)."""

from __future__ import annotations

import email
import email.policy
import itertools
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.config import small_config

from mailtix.cli.present import ticket_detail
from mailtix.desks.outcome import Outcome, Source
from mailtix.runtime.app import App
from mailtix.store.models import Event, Message, OutboxItem, Ticket

SUPPORT = "support@acme.example"
ALICE = "alice@acme.example"
CAROL = "carol@example.org"
MX = "mx.acme.example"

AGENTS = f'[agents]\nsecret = "0123456789abcdef0123"\ntrusted_authserv_ids = ["{MX}"]\n'
DEPARTMENTS = f"""\
[[department]]
name = "general"
agents = ["{ALICE}", "bob@acme.example"]

[[agent]]
email = "{ALICE}"
name = "Alice Agent"
"""
PASS = f"{MX}; dmarc=pass header.from=acme.example"
_ids = itertools.count(1)


class Desk:
    def __init__(self, app: App) -> None:
        self.app = app
        self.uids = itertools.count(1)

    def feed(self, msg: EmailMessage) -> Outcome:
        return self.app.pipeline.process(msg.as_bytes(), Source("support", 1, next(self.uids)))


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    config = small_config(
        tmp_path, address=SUPPORT, mailbox='display_name = "ACME Support"', templates=True,
        departments=DEPARTMENTS, routing="", extra=AGENTS,
    )  # fmt: skip
    return Desk(App.open(config, clock=lambda: datetime(2026, 11, 23, 10)))


def mail(sender: str, subject: str, body: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Message-ID"] = headers.pop("Message_ID", f"<m{next(_ids)}@example.org>")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def outbox(kind: str | None = None) -> list[OutboxItem]:
    query = OutboxItem.select().order_by(OutboxItem.id)
    return list(query if kind is None else query.where(OutboxItem.kind == kind))


def parsed(item: OutboxItem) -> EmailMessage:
    msg = email.message_from_bytes(bytes(item.rfc822), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text_of(item: OutboxItem) -> str:
    return str(parsed(item).get_body(("plain",)).get_content())  # type: ignore[union-attr]


def open_ticket(desk: Desk) -> tuple[Ticket, OutboxItem]:
    """Carol's ticket and the notification Alice got about it."""
    desk.feed(mail(f"Carol <{CAROL}>", "Printer jams", "It jams on every page.\n"))
    ticket = Ticket.select().order_by(Ticket.id.desc()).get()
    [note] = [n for n in outbox("notification") if ALICE in n.recipients]
    return ticket, note


def reply_to(notification: OutboxItem, top: str, quote: str | None = None) -> EmailMessage:
    """Alice's reply to ``notification``: ``top``, then ``quote`` (default: "> "-quoted)."""
    sent = parsed(notification)
    original = text_of(notification)
    if quote is None:
        quote = "On Mon, 23 Nov 2026, ACME Support wrote:\n" + "\n".join(
            f"> {line}" for line in original.splitlines()
        )
    msg = mail(f"Alice Agent <{ALICE}>", f"Re: {sent['Subject']}", f"{top}\n\n{quote}\n")
    msg["In-Reply-To"] = sent["Message-ID"]
    msg["References"] = f"{sent.get('References', '')} {sent['Message-ID']}".strip()
    return msg


def relays() -> list[OutboxItem]:
    return outbox("relay")


# --- breakage 4: a forged agent opens tickets and mails anyone ------------------------------


PHISH = "Your account is locked - verify at http://evil.example/login"


def test_forged_agent_customer_command_mails_no_victim_and_warns_the_real_agent(
    desk: Desk,
) -> None:
    body = "#customer victim@example.com\n#status closed\n#tag vip\n\nHi!\n"
    outcome = desk.feed(mail(f"Alice <{ALICE}>", PHISH, body))
    assert outcome.kind == "ticket"
    [only] = list(Ticket.select())
    assert only.customer == ALICE  # held in the claimed agent's own name, not the victim's
    assert (only.status, list(only.tags)) == ("new", [])  # no command ran
    recipients = {r for item in outbox() for r in item.recipients}
    assert recipients == {ALICE}  # no acknowledgement, no notification: only the warning
    [warning] = outbox()
    assert warning.kind == "unverified"
    assert "Ticket opened for a customer" not in text_of(warning)
    assert "#customer ADDRESS" in text_of(warning)
    [kept] = list(Message.select())
    assert kept.kind == "note" and ticket_detail(only, "SUP")["messages"][0]["verified"] is False


def test_forged_agent_forward_opens_no_ticket_for_the_forwarded_sender(desk: Desk) -> None:
    body = f"Please help.\n\n---------- Forwarded message ---------\nFrom: Carol <{CAROL}>\n\nHi\n"
    desk.feed(mail(f"Alice <{ALICE}>", "Fwd: Cannot log in", body))
    [only] = list(Ticket.select())
    assert only.customer == ALICE
    assert {r for item in outbox() for r in item.recipients} == {ALICE}


def test_agent_forward_verified_by_dmarc_opens_the_ticket_for_the_customer(desk: Desk) -> None:
    body = f"Please help.\n\n---------- Forwarded message ---------\nFrom: Carol <{CAROL}>\n\nHi\n"
    forward = mail(f"Alice <{ALICE}>", "Fwd: Cannot log in", body, Authentication_Results=PASS)
    desk.feed(forward)
    [only] = list(Ticket.select())
    assert only.customer == CAROL
    [ack] = outbox("acknowledgement")
    assert ack.recipients == [CAROL]


def test_reply_to_the_warning_hands_a_held_forward_to_the_customer(desk: Desk) -> None:
    desk.feed(mail(f"Alice <{ALICE}>", "Fwd: Cannot log in", "From: Carol <carol@example.org>\n"))
    [warning] = outbox("unverified")
    desk.feed(reply_to(warning, f"#customer {CAROL}\n\nHi Carol, we are on it."))
    [only] = list(Ticket.select())
    assert only.customer == CAROL
    [relay] = relays()
    assert relay.recipients == [CAROL] and "we are on it" in text_of(relay)
    assert ALICE.encode() not in bytes(relay.rfc822)


# --- breakage 5: a stranger threads into any ticket knowing only its number -----------------


def test_planted_message_id_of_a_forged_note_does_not_thread_a_stranger(desk: Desk) -> None:
    ticket, _ = open_ticket(desk)
    planted = "<planted@evil.example>"
    forged = mail(f"Alice <{ALICE}>", f"Re: [SUP-{ticket.id}] x", "note", Message_ID=planted)
    assert desk.feed(forged).ticket_ref == f"SUP-{ticket.id}"  # filed as an unverified note
    stranger = mail("Mallory <mallory@evil.example>", "hello", "let me in", In_Reply_To=planted)
    outcome = desk.feed(stranger)
    assert outcome.kind == "ticket" and outcome.ticket_ref != f"SUP-{ticket.id}"
    assert Ticket.get_by_id(ticket.id).customer == CAROL


def test_customer_visible_message_ids_still_thread(desk: Desk) -> None:
    ticket, _ = open_ticket(desk)
    [ack] = outbox("acknowledgement")
    answer = mail(f"Carol <{CAROL}>", "anything", "more", In_Reply_To=ack.message_id)
    assert desk.feed(answer).ticket_ref == f"SUP-{ticket.id}"


def test_forged_note_is_shown_unverified_and_real_messages_are_not(desk: Desk) -> None:
    ticket, notification = open_ticket(desk)
    desk.feed(mail(f"Alice <{ALICE}>", f"Re: [SUP-{ticket.id}] x", "forged"))
    desk.feed(reply_to(notification, "#note real note"))
    flags = [(m["kind"], m["verified"]) for m in ticket_detail(ticket, "SUP")["messages"]]
    assert flags == [("customer", None), ("auto", None), ("note", False), ("note", True)]


# --- breakage 6: the reply token leaks to the customer --------------------------------------


@pytest.mark.parametrize("encoding", ["8bit", "base64"])
def test_attached_notification_is_not_relayed_to_the_customer(desk: Desk, encoding: str) -> None:
    ticket, notification = open_ticket(desk)
    reply = reply_to(notification, "Please restart it.", quote="")
    reply.add_attachment(bytes(notification.rfc822), maintype="message", subtype="rfc822")
    raw = reply.as_bytes()
    if encoding == "8bit":  # as Outlook attaches it; the stdlib writes base64 (RFC 2046 says no)
        [part] = list(reply.iter_attachments())
        raw = raw.replace(str(part.get_payload()).encode(), bytes(notification.rfc822))
        encoded = b"rfc822\nContent-Transfer-Encoding: base64\n"
        raw = raw.replace(encoded, b"rfc822\nContent-Transfer-Encoding: 8bit\n")
        assert notification.message_id.encode() in raw
    desk.app.pipeline.process(raw, Source("support", 1, next(desk.uids)))
    [relay] = relays()
    assert list(parsed(relay).iter_attachments()) == []
    assert b"mtx." not in bytes(relay.rfc822)
    assert "Please restart it." in text_of(relay)
    withheld = Event.select().where((Event.ticket == ticket) & (Event.type == "withheld"))
    assert "reply token" in withheld.get().detail


def test_token_pasted_into_the_answer_holds_the_relay_and_tells_the_agent(desk: Desk) -> None:
    _, notification = open_ticket(desk)
    desk.feed(reply_to(notification, f"See {notification.message_id.strip('<>')} for it.", ""))
    assert relays() == []
    [error] = outbox("command_error")
    assert error.recipients == [ALICE] and "reply token" in text_of(error)


def test_reply_token_in_a_mail_that_failed_dmarc_at_our_mx_proves_nothing(desk: Desk) -> None:
    ticket, notification = open_ticket(desk)
    forged = reply_to(notification, "#status closed\n\nSend us your password.")
    forged["Authentication-Results"] = f"{MX}; dmarc=fail header.from=acme.example"
    desk.feed(forged)
    assert relays() == [] and Ticket.get_by_id(ticket.id).status == "new"


# --- breakage 9: quote stripping that fails open leaks the agent ----------------------------


def hungarian_quote(notification: OutboxItem) -> str:
    sent = parsed(notification)
    return (
        "________________________________\n"
        f"Feladó: ACME Support <{SUPPORT}>\n"
        "Elküldve: 2026. november 23., hétfő 10:00\n"
        f"Címzett: Alice Agent <{ALICE}>\n"
        f"Tárgy: {sent['Subject']}\n\n" + text_of(notification)
    )


def test_notification_quoted_under_hungarian_outlook_headers_is_cut(desk: Desk) -> None:
    _, notification = open_ticket(desk)
    desk.feed(
        reply_to(notification, "Kedves Carol, please restart it.", hungarian_quote(notification))
    )
    [relay] = relays()
    body = text_of(relay)
    assert "please restart it." in body
    assert ALICE not in body and "Feladó" not in body and "Status:" not in body
    assert "#participant" not in body


def test_answer_that_would_still_show_the_agent_is_held(desk: Desk) -> None:
    _, notification = open_ticket(desk)
    desk.feed(reply_to(notification, f"Write to me directly at {ALICE}.", ""))
    assert relays() == []
    [error] = outbox("command_error")
    assert error.recipients == [ALICE] and "your address" in text_of(error)


# --- breakage 8 (agent side): an agent's automatic reply is never relayed --------------------


@pytest.mark.parametrize(
    ("subject", "body", "headers"),
    [
        ("Automatic reply: [SUP-{id}] Printer jams", "Back on Monday. Phone +49 170 1234567", {}),
        ("Re: [SUP-{id}] Printer jams", "Back Monday, call +49 170", {"X_Autoreply": "yes"}),
        ("Re: [SUP-{id}] Printer jams", "I am out of the office until Monday. +49 170 123", {}),
        ("Re: [SUP-{id}] Printer jams", "Ich bin bis 30.11. nicht im Büro. +49 170 123", {}),
    ],
)
def test_agent_out_of_office_answer_carrying_the_token_is_kept_not_relayed(
    desk: Desk, subject: str, body: str, headers: dict[str, str]
) -> None:
    ticket, notification = open_ticket(desk)
    auto = reply_to(notification, body, "")
    del auto["Subject"]
    auto["Subject"] = subject.format(id=ticket.id)
    for name, value in headers.items():
        auto[name.replace("_", "-")] = value
    desk.feed(auto)
    assert relays() == []
    kept = Message.select().where(Message.kind == "note").get()
    assert "+49 170" in kept.text and "automatic reply" in kept.thread_reason


def test_agent_answer_mentioning_absence_midway_is_relayed(desk: Desk) -> None:
    _, notification = open_ticket(desk)
    desk.feed(reply_to(notification, "Hi Carol, restart it. I am out of the office tomorrow."))
    assert len(relays()) == 1


def test_reply_to_the_warning_without_customer_relays_nothing_to_the_agent_herself(
    desk: Desk,
) -> None:
    desk.feed(mail(f"Alice <{ALICE}>", "Fwd: Cannot log in", "From: Carol <carol@example.org>\n"))
    [warning] = outbox("unverified")
    desk.feed(reply_to(warning, "Thanks, that was me."))
    assert relays() == []
    assert Message.select().where(Message.kind == "note").count() == 2
