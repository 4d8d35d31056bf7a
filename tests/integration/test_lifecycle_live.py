"""The ticket life cycle against real Dovecot + Postfix, driven by `mailtix jobs run --at`:
SLA escalation (one mail, never a second), pending → resolved → closed with the customer's
status mails, the survey on resolve and its plain-text answer, and a reply to a long-closed
ticket opening a new, linked one."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from support.live import (
    customer_mail,
    mailtix,
    outbox_items,
    parse,
    ticket,
    tickets,
    unique,
    write_config,
)

from tests.integration.test_agents import agent_reply, deliver

pytestmark = pytest.mark.integration

LIFECYCLE = """
[agents]
secret = "0123456789abcdef0123"

[lifecycle]
pending_reminder_days = 2
pending_autoresolve_days = 5
resolved_autoclose_days = 3
reopen_closed_days = 30

[sla]
business_hours = "always"
timezone = "Europe/Berlin"

[sla.first_response]
normal = "1h"

[survey]
enabled = true
"""


@pytest.fixture
def desk(mailstack: Any, tmp_path: Path) -> dict[str, Any]:
    names = {k: unique(k) for k in ("support", "carol", "alice")}
    mailstack.add_user(names["carol"])
    departments = (
        f'[[department]]\nname = "general"\nagents = ["{names["alice"]}@example.test"]\n\n'
        f'[[agent]]\nemail = "{names["alice"]}@example.test"\nname = "Alice Agent"\n'
    )
    config = write_config(
        tmp_path, mailstack, [{"name": "support", "user": names["support"]}],
        departments=departments, extra=LIFECYCLE,
    )  # fmt: skip
    addr = {k: f"{v}@{'customer' if k == 'carol' else 'example'}.test" for k, v in names.items()}
    return {"config": config, "user": names, "addr": addr, "dir": tmp_path}


def at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat(timespec="seconds")


def jobs(desk: dict[str, Any], delta: timedelta) -> str:
    return mailtix(desk["config"], "jobs", "run", "--at", at(delta)).stdout


def open_ticket(stack: Any, desk: dict[str, Any]) -> tuple[str, EmailMessage]:
    a = desk["addr"]
    msg = customer_mail(f"Carol <{a['carol']}>", a["support"], "Printer jams", "It jams.\n")
    deliver(stack, desk, msg, a["carol"])
    ref = tickets(desk["config"])[0]["ref"]
    notification = parse(stack.wait_for_messages(desk["user"]["alice"], count=1)[-1])
    return ref, notification


def subjects(stack: Any, user: str, count: int) -> list[str]:
    return [str(parse(m)["Subject"]) for m in stack.wait_for_messages(user, count=count)]


def test_escalation_once(mailstack: Any, desk: dict[str, Any]) -> None:
    ref, _ = open_ticket(mailstack, desk)
    shown = ticket(desk["config"], ref)
    assert shown["first_response_due"] is not None and shown["resolution_due"] is None
    assert f"{ref} first response breached" in jobs(desk, timedelta(hours=2))
    alice = subjects(mailstack, desk["user"]["alice"], 2)
    assert alice[1].startswith(f"[{ref}] SLA first response breached")
    assert "escalation: nothing to do" in jobs(desk, timedelta(hours=3))
    time.sleep(1.5)
    assert len(mailstack.fetch(desk["user"]["alice"])) == 2  # no second escalation
    sla_events = [e for e in ticket(desk["config"], ref)["events"] if e["type"] == "sla"]
    assert len(sla_events) == 1
    assert [o["kind"] for o in outbox_items(desk["config"], include_sent=True)].count(
        "escalation"
    ) == 1


def test_pending_resolved_closed_with_survey(mailstack: Any, desk: dict[str, Any]) -> None:
    a, u = desk["addr"], desk["user"]
    ref, notification = open_ticket(mailstack, desk)
    reply = agent_reply(notification, a["alice"], a["support"],
                        "#status pending\n\nHi Carol,\nwhich model is it?")  # fmt: skip
    deliver(mailstack, desk, reply, a["alice"])
    assert ticket(desk["config"], ref)["status"] == "pending"
    subjects(mailstack, u["carol"], 2)  # ack + relay

    out = jobs(desk, timedelta(days=2, hours=1))
    assert f"{ref} reminded" in out
    assert subjects(mailstack, u["carol"], 3)[2].startswith(f"[{ref}] Waiting for your reply")

    out = jobs(desk, timedelta(days=5, hours=1))
    assert f"{ref} pending -> resolved" in out
    carol = [parse(m) for m in mailstack.wait_for_messages(u["carol"], count=5)]
    kinds = {str(m["Subject"]).removeprefix(f"[{ref}] ")[:8]: m for m in carol[3:]}
    assert set(kinds) == {"Resolved", "How did "}
    survey = kinds["How did "]
    assert "Rating%205" in survey.get_body(("html",)).get_content()
    assert ticket(desk["config"], ref)["status"] == "resolved"

    answer = customer_mail(
        f"Carol <{a['carol']}>", a["support"], f"Re: {survey['Subject']}",
        "5 great service\n\nOn Monday ACME Support wrote:\n> How satisfied are you?\n",
        In_Reply_To=str(survey["Message-ID"]),
    )  # fmt: skip
    deliver(mailstack, desk, answer, a["carol"])
    shown = ticket(desk["config"], ref)
    assert (shown["satisfaction"], shown["satisfaction_comment"]) == (5, "great service")
    assert shown["status"] == "resolved"

    out = jobs(desk, timedelta(days=8, hours=2))
    assert f"{ref} resolved -> closed" in out
    assert subjects(mailstack, u["carol"], 6)[5].startswith(f"[{ref}] Closed")
    assert ticket(desk["config"], ref)["status"] == "closed"
    assert "nothing to do" in jobs(desk, timedelta(days=8, hours=2)).splitlines()[3]


def test_reply_to_long_closed_ticket_opens_linked_one(mailstack: Any, desk: dict[str, Any]) -> None:
    a = desk["addr"]
    ref, _ = open_ticket(mailstack, desk)
    long_ago = (datetime.now(UTC) - timedelta(days=40)).replace(tzinfo=None)
    with sqlite3.connect(desk["dir"] / "mailtix.db") as db:  # closed 40 days ago
        db.execute("UPDATE ticket SET status = 'closed', closed_at = ? WHERE id = ?",
                   (long_ago.isoformat(sep=" "), int(ref.split("-")[1])))  # fmt: skip
    again = customer_mail(f"Carol <{a['carol']}>", a["support"], f"Re: [{ref}] Printer jams",
                          "It is jamming again.\n")  # fmt: skip
    deliver(mailstack, desk, again, a["carol"])
    newest = tickets(desk["config"])[0]
    assert newest["ref"] != ref and newest["linked_ticket"] == ref
    assert ticket(desk["config"], ref)["status"] == "closed"
    acks = subjects(mailstack, desk["user"]["carol"], 2)
    assert any(s.startswith(f"[{newest['ref']}]") for s in acks)
