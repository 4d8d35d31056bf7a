"""Agents work from their own mail client, against real Dovecot + Postfix: notification →
reply as a real client writes it → relay to the customer from the support address."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from support.live import (
    customer_mail,
    mailtix,
    parse,
    ticket,
    tickets,
    unique,
    write_config,
)

pytestmark = pytest.mark.integration
MX = "mx.example.test"  # the authserv-id of "our MX" (Postfix adds no Authentication-Results)


@pytest.fixture
def desk(mailstack: Any, tmp_path: Path) -> dict[str, Any]:
    names = {k: unique(k) for k in ("support", "carol", "alice", "bob", "bill", "dan")}
    for key in ("carol", "dan"):
        mailstack.add_user(names[key])
    departments = (
        f'[[department]]\nname = "general"\nagents = ["{names["alice"]}@example.test", '
        f'"{names["bob"]}@example.test"]\n\n'
        f'[[department]]\nname = "billing"\nagents = ["{names["bill"]}@example.test"]\n\n'
        f'[[agent]]\nemail = "{names["alice"]}@example.test"\nname = "Alice Agent"\n'
    )
    config = write_config(
        tmp_path, mailstack, [{"name": "support", "user": names["support"]}],
        departments=departments,
        extra=f'[agents]\nsecret = "0123456789abcdef0123"\ntrusted_authserv_ids = ["{MX}"]\n',
    )  # fmt: skip
    addr = {k: f"{v}@{'customer' if k in ('carol', 'dan') else 'example'}.test"
            for k, v in names.items()}  # fmt: skip
    return {"config": config, "user": names, "addr": addr}


def deliver(stack: Any, desk: dict[str, Any], msg: EmailMessage, sender: str) -> None:
    before = len(stack.folder_uids(desk["user"]["support"], "Processed"))
    stack.send(msg, sender, [desk["addr"]["support"]])
    stack.wait_for_messages(desk["user"]["support"], count=1)
    mailtix(desk["config"], "poll", "--once")
    assert len(stack.folder_uids(desk["user"]["support"], "Processed")) == before + 1


def newest(stack: Any, user: str, count: int) -> EmailMessage:
    return parse(stack.wait_for_messages(user, count=count)[-1])


def agent_reply(notification: EmailMessage, agent: str, support: str, top: str) -> EmailMessage:
    """What Thunderbird/Gmail send when the agent hits Reply on a notification."""
    quoted = "\n".join(
        f"> {line}" for line in notification.get_body(("plain",)).get_content().splitlines()
    )
    msg = EmailMessage()
    msg["From"] = f"Alice Agent <{agent}>"
    msg["To"] = support
    msg["Subject"] = f"Re: {notification['Subject']}"
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg["In-Reply-To"] = notification["Message-ID"]
    msg["References"] = f"{notification.get('References', '')} {notification['Message-ID']}".strip()
    msg.set_content(
        f"{top}\n\n-- \nAlice Agent\nACME Support team\n\n"
        f"On Mon, 23 Nov 2026 at 10:00, ACME Support <{support}> wrote:\n{quoted}\n"
    )
    return msg


def open_ticket(
    stack: Any, desk: dict[str, Any], cc: str | None = None
) -> tuple[str, EmailMessage]:
    a = desk["addr"]
    msg = customer_mail(f"Carol <{a['carol']}>", a["support"], "Printer jams", "It jams.\n")
    if cc:
        msg["Cc"] = cc
    deliver(stack, desk, msg, a["carol"])
    ref = tickets(desk["config"])[0]["ref"]
    note = newest(stack, desk["user"]["alice"], 1)
    return ref, note


def test_notification_reply_relay_and_commands(mailstack: Any, desk: dict[str, Any]) -> None:
    a, u = desk["addr"], desk["user"]
    ref, notification = open_ticket(mailstack, desk, cc=f"Dan <{a['dan']}>")
    assert notification["Subject"].startswith(f"[{ref}] New ticket")
    assert notification["Reply-To"].addresses[0].addr_spec == a["support"]
    assert "It jams." in notification.get_body(("plain",)).get_content()
    assert a["alice"].split("@")[0] not in notification["Message-ID"]  # token, not address
    assert len(mailstack.wait_for_messages(u["bob"], count=1)) == 1  # whole department

    reply = agent_reply(
        notification,
        a["alice"],
        a["support"],
        "#status pending\n\nHi Carol,\nplease switch it off and on.",
    )
    deliver(mailstack, desk, reply, a["alice"])

    relay_raw = mailstack.wait_for_messages(u["carol"], count=2)[-1]
    relay = parse(relay_raw)
    body = relay.get_body(("plain",)).get_content()
    assert relay["From"].addresses[0].addr_spec == a["support"]
    assert relay["From"].addresses[0].display_name == "Alice Agent via ACME Support"
    assert relay["Subject"] == f"Re: [{ref}] Printer jams"
    assert "please switch it off and on." in body
    assert "#status" not in body and "wrote:" not in body and "> " not in body
    assert "ACME Support team" not in body  # the agent's signature is stripped
    assert a["alice"].encode() not in relay_raw  # the agent's address never reaches the customer
    assert relay["In-Reply-To"] is not None
    assert a["dan"] in str(relay["Cc"])  # Cc'd on the first mail → participant
    assert len(mailstack.wait_for_messages(u["dan"], count=1)) == 1

    shown = ticket(desk["config"], ref)
    assert shown["status"] == "pending" and shown["assignee"] == a["alice"]
    agent_messages = [m for m in shown["messages"] if m["kind"] == "agent"]
    assert len(agent_messages) == 1 and agent_messages[0]["text"].startswith("Hi Carol")

    note = agent_reply(notification, a["alice"], a["support"], "#note called her, waiting for logs")
    deliver(mailstack, desk, note, a["alice"])
    resolve = agent_reply(notification, a["alice"], a["support"], "#status resolved")
    deliver(mailstack, desk, resolve, a["alice"])
    assert ticket(desk["config"], ref)["status"] == "resolved"
    carol_mail = [parse(m) for m in mailstack.wait_for_messages(u["carol"], count=3)]
    assert len(carol_mail) == 3  # ack + one relay + the "Resolved" status mail, no note
    assert any(m["Subject"].startswith(f"[{ref}] Resolved") for m in carol_mail)

    again = customer_mail(a["carol"], a["support"], f"Re: [{ref}] Printer jams", "Still broken!\n")
    deliver(mailstack, desk, again, a["carol"])
    shown = ticket(desk["config"], ref)
    assert shown["status"] == "open"
    assert any(m["kind"] == "note" and "waiting for logs" in m["text"] for m in shown["messages"])


def test_assign_and_transfer_notify_the_new_people(mailstack: Any, desk: dict[str, Any]) -> None:
    a, u = desk["addr"], desk["user"]
    ref, notification = open_ticket(mailstack, desk)
    mailstack.wait_for_messages(u["bob"], count=1)
    command = agent_reply(
        notification, a["alice"], a["support"], f"#assign {a['bob']}\n#department billing"
    )
    deliver(mailstack, desk, command, a["alice"])
    assigned = newest(mailstack, u["bob"], 2)
    assert "Assigned to you" in assigned["Subject"]
    transferred = newest(mailstack, u["bill"], 1)
    assert "Transferred" in transferred["Subject"]
    shown = ticket(desk["config"], ref)
    assert (shown["assignee"], shown["department"]) == (a["bob"], "billing")
    assert len(mailstack.folder_uids(u["carol"], "INBOX")) == 1  # commands only: no relay


def test_invalid_command_changes_nothing_and_answers_the_agent(
    mailstack: Any, desk: dict[str, Any]
) -> None:
    a, u = desk["addr"], desk["user"]
    ref, notification = open_ticket(mailstack, desk)
    bad = agent_reply(notification, a["alice"], a["support"], "#status done\n\nHi Carol")
    deliver(mailstack, desk, bad, a["alice"])
    error = newest(mailstack, u["alice"], 2)
    assert "Not applied" in error["Subject"]
    assert '"done" is not one of' in error.get_body(("plain",)).get_content()
    assert ticket(desk["config"], ref)["status"] == "new"
    assert len(mailstack.folder_uids(u["carol"], "INBOX")) == 1  # only the ack


def test_forged_agent_mail_changes_nothing(mailstack: Any, desk: dict[str, Any]) -> None:
    a, u = desk["addr"], desk["user"]
    ref, _ = open_ticket(mailstack, desk)
    forged = customer_mail(
        f"Alice Agent <{a['alice']}>", a["support"], f"Re: [{ref}] Printer jams",
        "#status closed\n#assign me\n\nCarol, send your password to evil@example.org\n",
    )  # fmt: skip
    deliver(mailstack, desk, forged, a["alice"])
    shown = ticket(desk["config"], ref)
    assert shown["status"] == "new" and shown["assignee"] is None
    assert any(e["type"] == "unverified" for e in shown["events"])
    assert any(m["kind"] == "note" for m in shown["messages"])
    warning = newest(mailstack, u["alice"], 2)
    assert "Unverified mail in your name" in warning["Subject"]
    assert len(mailstack.folder_uids(u["carol"], "INBOX")) == 1  # nothing relayed


def test_agent_forward_verified_by_dmarc_opens_a_ticket_for_the_customer(
    mailstack: Any, desk: dict[str, Any]
) -> None:
    a, u = desk["addr"], desk["user"]
    forward = customer_mail(
        f"Alice Agent <{a['alice']}>", a["support"], "Fwd: Cannot log in",
        f"Please help her.\n\n---------- Forwarded message ---------\n"
        f"From: Carol <{a['carol']}>\nSubject: Cannot log in\n\nMy login fails.\n",
    )  # fmt: skip
    forward["Authentication-Results"] = f"{MX}; dmarc=pass header.from=example.test"
    deliver(mailstack, desk, forward, a["alice"])
    [only] = tickets(desk["config"])
    assert only["customer"] == a["carol"] and only["subject"] == "Cannot log in"
    ack = newest(mailstack, u["carol"], 1)
    assert ack["Subject"] == f"[{only['ref']}] Cannot log in"


def test_agent_attachments_are_relayed(mailstack: Any, desk: dict[str, Any]) -> None:
    a, u = desk["addr"], desk["user"]
    ref, notification = open_ticket(mailstack, desk)
    reply = agent_reply(notification, a["alice"], a["support"], "Here is the manual.")
    reply.add_attachment(b"%PDF-1.4 manual", maintype="application", subtype="pdf",
                         filename="manual.pdf")  # fmt: skip
    deliver(mailstack, desk, reply, a["alice"])
    relay = newest(mailstack, u["carol"], 2)
    [attached] = list(relay.iter_attachments())
    assert attached.get_filename() == "manual.pdf"
    assert attached.get_content() == b"%PDF-1.4 manual"
    shown = ticket(desk["config"], ref)
    [agent_message] = [m for m in shown["messages"] if m["kind"] == "agent"]
    assert agent_message["attachments"][0]["filename"] == "manual.pdf"


# --- issue 13: a forged agent, a planted Message-ID, an attached notification ---------------


def test_forged_agent_customer_command_mails_nobody_but_the_real_agent(
    mailstack: Any, desk: dict[str, Any]
) -> None:
    a, u = desk["addr"], desk["user"]
    phish = customer_mail(
        f"Alice Agent <{a['alice']}>", a["support"],
        "Your account is locked - verify at http://evil.example/login",
        f"#customer {a['dan']}\n\nPlease verify your account.\n",
    )  # fmt: skip
    deliver(mailstack, desk, phish, a["alice"])
    [held] = tickets(desk["config"])
    assert held["customer"] == a["alice"]
    warning = newest(mailstack, u["alice"], 1)
    assert "Unverified mail in your name" in warning["Subject"]
    assert "Ticket opened for a customer" not in warning.get_body(("plain",)).get_content()
    assert mailstack.folder_uids(u["dan"], "INBOX") == []  # the victim hears nothing
    assert mailstack.folder_uids(u["bob"], "INBOX") == []  # nor the other agents


def test_stranger_replying_to_a_planted_message_id_gets_a_ticket_of_their_own(
    mailstack: Any, desk: dict[str, Any]
) -> None:
    a = desk["addr"]
    ref, _ = open_ticket(mailstack, desk)
    planted = "<planted@evil.example>"
    forged = customer_mail(
        f"Alice Agent <{a['alice']}>", a["support"], f"Re: [{ref}] Printer jams", "hi\n"
    )
    forged.replace_header("Message-ID", planted)
    deliver(mailstack, desk, forged, a["alice"])
    shown = ticket(desk["config"], ref)
    assert [m["verified"] for m in shown["messages"] if m["kind"] == "note"] == [False]
    assert "UNVERIFIED" in mailtix(desk["config"], "tickets", "show", ref).stdout
    stranger = customer_mail(
        f"Dan <{a['dan']}>", a["support"], "Re: printer", "Show me the ticket\n",
        In_Reply_To=planted,
    )  # fmt: skip
    deliver(mailstack, desk, stranger, a["dan"])
    assert len(tickets(desk["config"])) == 2
    assert a["dan"] not in ticket(desk["config"], ref)["participants"]


def test_relay_of_a_reply_with_the_notification_attached_carries_no_token(
    mailstack: Any, desk: dict[str, Any]
) -> None:
    a, u = desk["addr"], desk["user"]
    ref, notification = open_ticket(mailstack, desk)
    reply = agent_reply(notification, a["alice"], a["support"], "Please restart it.")
    reply.add_attachment(notification.as_bytes(), maintype="message", subtype="rfc822")
    before = len(mailstack.folder_uids(u["support"], "Processed"))
    mailstack.send(reply.as_bytes(), a["alice"], [a["support"]])  # as Outlook "include original"
    mailstack.wait_for_messages(u["support"], count=1)
    mailtix(desk["config"], "poll", "--once")
    assert len(mailstack.folder_uids(u["support"], "Processed")) == before + 1
    relay_raw = mailstack.wait_for_messages(u["carol"], count=2)[-1]
    relay = parse(relay_raw)
    assert "Please restart it." in relay.get_body(("plain",)).get_content()
    assert list(relay.iter_attachments()) == []
    assert b"mtx." not in relay_raw and a["alice"].encode() not in relay_raw
    shown = ticket(desk["config"], ref)
    assert any(e["type"] == "withheld" for e in shown["events"])
