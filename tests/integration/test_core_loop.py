"""The core loop on real servers: customer mail through Postfix → Dovecot → `mailtix poll --once`
→ ticket → acknowledgement delivered back through Postfix to the customer's IMAP mailbox."""

from __future__ import annotations

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


@pytest.fixture
def desk(mailstack: Any, tmp_path: Path) -> dict[str, Any]:
    support, carol = unique("support"), unique("carol")
    mailstack.add_user(carol)
    config = write_config(tmp_path, mailstack, [{"name": "support", "user": support}])
    return {
        "config": config,
        "support": support,
        "carol": carol,
        "support_addr": f"{support}@example.test",
        "carol_addr": f"{carol}@customer.test",
    }


def send(stack: Any, msg: Any, sender: str, to: str) -> None:
    stack.send(msg, sender, [to])


def deliver_and_poll(
    stack: Any, desk: dict[str, Any], msg: Any, sender: str, expect_inbox: int = 1
) -> None:
    send(stack, msg, sender, desk["support_addr"])
    stack.wait_for_messages(desk["support"], count=expect_inbox)
    mailtix(desk["config"], "poll", "--once")


def test_new_mail_becomes_ticket_and_ack_reaches_customer(
    mailstack: Any, desk: dict[str, Any]
) -> None:
    msg = customer_mail(f"Carol <{desk['carol_addr']}>", desk["support_addr"], "Printer jams")
    deliver_and_poll(mailstack, desk, msg, desk["carol_addr"])

    [only] = tickets(desk["config"])
    assert only["customer"] == desk["carol_addr"] and only["subject"] == "Printer jams"
    assert only["status"] == "new" and only["department"] == "general"

    [raw] = mailstack.wait_for_messages(desk["carol"], count=1)
    ack = parse(raw)
    assert ack["Subject"] == f"[{only['ref']}] Printer jams"
    assert ack["From"].addresses[0].addr_spec == desk["support_addr"]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == msg["Message-ID"]
    assert ack["Message-ID"].endswith("@example.test>")
    assert ack.get_content_type() == "multipart/alternative"
    assert {p.get_content_type() for p in ack.iter_parts()} == {"text/plain", "text/html"}

    assert mailstack.folder_uids(desk["support"], "INBOX") == []
    assert len(mailstack.folder_uids(desk["support"], "Processed")) == 1

    # a second poll changes nothing: no new ticket, no second acknowledgement
    mailtix(desk["config"], "poll", "--once")
    assert len(tickets(desk["config"])) == 1
    assert len(mailstack.folder_uids(desk["carol"], "INBOX")) == 1


def test_replies_thread_by_references_and_by_tag_but_not_for_strangers(
    mailstack: Any, desk: dict[str, Any]
) -> None:
    first = customer_mail(f"Carol <{desk['carol_addr']}>", desk["support_addr"], "VPN down")
    deliver_and_poll(mailstack, desk, first, desk["carol_addr"])
    [raw] = mailstack.wait_for_messages(desk["carol"], count=1)
    ack = parse(raw)
    ref = tickets(desk["config"])[0]["ref"]

    by_refs = customer_mail(
        desk["carol_addr"],
        desk["support_addr"],
        "Re: something else entirely",
        In_Reply_To=ack["Message-ID"],
        References=f"{first['Message-ID']} {ack['Message-ID']}",
    )
    deliver_and_poll(mailstack, desk, by_refs, desk["carol_addr"])
    by_tag = customer_mail(desk["carol_addr"], desk["support_addr"], f"AW: [{ref}] VPN down")
    deliver_and_poll(mailstack, desk, by_tag, desk["carol_addr"])

    stranger = unique("eve")
    mailstack.add_user(stranger)
    eve = f"{stranger}@customer.test"
    hijack = customer_mail(eve, desk["support_addr"], f"Re: [{ref}] VPN down", "Send me all of it")
    deliver_and_poll(mailstack, desk, hijack, eve)

    listed = tickets(desk["config"])
    assert len(listed) == 2
    shown = ticket(desk["config"], ref)
    incoming = [m for m in shown["messages"] if m["direction"] == "in"]
    assert len(incoming) == 3
    assert shown["participants"] == [desk["carol_addr"]]
    # follow-ups get no acknowledgement: carol still has exactly one mail
    assert len(mailstack.folder_uids(desk["carol"], "INBOX")) == 1

    new = next(t for t in listed if t["ref"] != ref)
    assert new["customer"] == eve and new["subject"] == "Re: VPN down"
    [eve_raw] = mailstack.wait_for_messages(stranger, count=1)
    eve_ack = parse(eve_raw)
    assert ref not in eve_ack["Subject"] and new["ref"] in eve_ack["Subject"]
    assert "VPN" not in eve_ack.get_body(("plain",)).get_content().replace("Re: VPN down", "")


def test_reply_to_closed_ticket_reopens_it(mailstack: Any, desk: dict[str, Any]) -> None:
    first = customer_mail(desk["carol_addr"], desk["support_addr"], "Old problem")
    deliver_and_poll(mailstack, desk, first, desk["carol_addr"])
    ref = tickets(desk["config"])[0]["ref"]
    _close(desk["config"], int(ref.split("-")[1]))
    again = customer_mail(desk["carol_addr"], desk["support_addr"], f"Re: [{ref}] Old problem")
    deliver_and_poll(mailstack, desk, again, desk["carol_addr"])
    shown = ticket(desk["config"], ref)
    assert shown["status"] == "open"
    assert any(e["type"] == "reopened" for e in shown["events"])


def _close(config: Path, ticket_id: int) -> None:
    from mailtix.domain.clock import utcnow
    from mailtix.domain.vocabulary import Field, Status
    from mailtix.lifecycle.changes import change
    from mailtix.runtime.app import App
    from mailtix.store.tickets import get_ticket

    app = App.open(config)
    found = get_ticket(ticket_id)
    assert found is not None
    change(found, Field.STATUS, Status.CLOSED, utcnow(), sla=app.config.sla, actor="test",
           reason="test")  # fmt: skip


def test_hostile_subjects_stay_inert(mailstack: Any, desk: dict[str, Any]) -> None:
    raw = (
        f"From: Mallory <{desk['carol_addr']}>\r\nTo: {desk['support_addr']}\r\n"
        "Subject: {{ 7*7 }} =?utf-8?q?Hi=0D=0ABcc:_victim@customer.test?=\r\n"
        "Message-ID: <hostile-1@customer.test>\r\n\r\n{% raw %}{{ config }}\r\n"
    ).encode()
    mailstack.send(raw, desk["carol_addr"], [desk["support_addr"]])
    mailstack.wait_for_messages(desk["support"], count=1)
    mailtix(desk["config"], "poll", "--once")
    [ack_raw] = mailstack.wait_for_messages(desk["carol"], count=1)
    ack = parse(ack_raw)
    assert "{{ 7*7 }}" in ack["Subject"] and "49" not in ack["Subject"]
    assert "Bcc" not in ack and len(ack.get_all("Subject")) == 1
    assert b"\r\nBcc:" not in ack_raw
    header_block = ack_raw.split(b"\r\n\r\n", 1)[0]
    assert b"victim@customer.test" not in header_block.replace(b"\r\n ", b" ").split(b"Subject:")[0]


def test_automated_mail_gets_no_acknowledgement(mailstack: Any, desk: dict[str, Any]) -> None:
    auto = customer_mail(
        desk["carol_addr"], desk["support_addr"], "Out of office", Auto_Submitted="auto-replied"
    )
    deliver_and_poll(mailstack, desk, auto, desk["carol_addr"])
    [only] = tickets(desk["config"])
    shown = ticket(desk["config"], only["ref"])
    assert any(e["type"] == "no-ack" for e in shown["events"])
    assert mailstack.folder_uids(desk["carol"], "INBOX") == []


def test_oversized_mail_is_quarantined_without_download(mailstack: Any, tmp_path: Path) -> None:
    support = unique("support")
    config = write_config(
        tmp_path, mailstack, [{"name": "support", "user": support, "max_message_bytes": 4096}]
    )
    big = customer_mail(
        "carol@customer.test", f"{support}@example.test", "Huge", "x" * 20000 + "\n"
    )
    mailstack.send(big, "carol@customer.test", [f"{support}@example.test"])
    mailstack.wait_for_messages(support, count=1)
    out = mailtix(config, "poll", "--once")
    assert "quarantined" in out.stdout
    assert tickets(config) == []
    assert len(mailstack.folder_uids(support, "Quarantine")) == 1
    listed = mailtix(config, "quarantine", "list", "--json").stdout
    assert "too large" in listed
