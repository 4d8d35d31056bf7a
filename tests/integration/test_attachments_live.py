"""Blocked attachments on real servers: a customer's invoice.pdf.exe and a .js declared as
text/plain are kept but not named as attachments in the agent's notification, which says they
were withheld and why; an agent's answer carrying them relays only the PDF."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from support.live import customer_mail, mailtix, parse, ticket, tickets, unique, write_config

pytestmark = pytest.mark.integration

EXE = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(64)
JS = b"var s = new ActiveXObject('WScript.Shell'); s.Run('calc');\n"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n"


def attach_three(msg: EmailMessage) -> None:
    msg.add_attachment(EXE, maintype="application", subtype="pdf", filename="invoice.pdf.exe")
    msg.add_attachment(JS.decode(), subtype="plain", filename="readme.js")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="report.pdf")


def poll(stack: Any, d: dict[str, Any], msg: EmailMessage, sender: str) -> None:
    stack.send(msg, sender, [d["support"]])
    stack.wait_for_messages(d["user"], count=1)
    mailtix(d["config"], "poll", "--once")
    stack.wait_queue_empty()


def test_blocked_attachments_are_withheld_from_notification_and_relay(
    mailstack: Any, tmp_path: Path
) -> None:
    user, carol, alice = unique("support"), unique("carol"), unique("alice")
    mailstack.add_user(carol)
    agent, customer = f"{alice}@example.test", f"{carol}@customer.test"
    config = write_config(
        tmp_path, mailstack, [{"name": "support", "user": user}],
        departments=f'[[department]]\nname = "general"\nagents = ["{agent}"]\n',
        extra='[agents]\nsecret = "0123456789abcdef0123"\n',
    )  # fmt: skip
    d = {"config": config, "user": user, "support": f"{user}@example.test"}
    msg = customer_mail(f"Carol <{customer}>", d["support"], "Invoice attached")
    attach_three(msg)
    poll(mailstack, d, msg, customer)

    [note] = [parse(m) for m in mailstack.wait_for_messages(alice)]
    text = note.get_body(("plain",)).get_content()
    assert "[attachment: report.pdf]" in text
    assert "[attachment withheld: invoice.pdf.exe — double extension .pdf.exe" in text
    assert "[attachment withheld: readme.js — blocked extension .js" in text
    assert list(note.iter_attachments()) == []
    [only] = tickets(config)
    stored = ticket(config, only["ref"])["messages"][0]["attachments"]
    assert sorted(a["filename"] for a in stored) == ["invoice.pdf.exe", "readme.js", "report.pdf"]

    reply = EmailMessage()
    reply["From"], reply["To"] = f"Alice <{agent}>", d["support"]
    reply["Subject"] = f"Re: {note['Subject']}"
    reply["Message-ID"] = make_msgid(domain="example.test")
    reply["In-Reply-To"] = reply["References"] = note["Message-ID"]
    reply.set_content("Here are the files back.\n")
    attach_three(reply)
    poll(mailstack, d, reply, agent)
    relays = [parse(m) for m in mailstack.fetch(carol)]
    [relay] = [
        m for m in relays if "Here are the files back" in m.get_body(("plain",)).get_content()
    ]
    assert [a.get_filename() for a in relay.iter_attachments()] == ["report.pdf"]
    events = [e["detail"] for e in ticket(config, only["ref"])["events"]]
    assert any("invoice.pdf.exe" in e and "not relayed" in e for e in events), events
    assert any("readme.js" in e and "not relayed" in e for e in events), events
