"""The agents' workflow commands against real Dovecot + Postfix (issue 18): an agent hits Reply
on a notification in her mail client and writes #merge, #snooze, #reply, #find or #history
above the quoted notification; the failures are answered to her alone; a customer writing the
same commands changes nothing. Also the CLI's ``tickets merge`` and ``tickets search``."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.live import REPO, customer_mail, mailtix, parse, ticket, tickets
from test_agents import agent_reply, deliver, newest
from test_agents import desk as desk  # noqa: PLC0414 (the fixture, shared)

pytestmark = pytest.mark.integration


def open_for(stack: Any, desk: dict[str, Any], who: str, subject: str) -> tuple[str, Any]:
    """``who``'s new ticket, and the notification Alice got about it."""
    a, u = desk["addr"], desk["user"]
    before = len(stack.folder_uids(u["alice"], "INBOX"))
    msg = customer_mail(f"{who.title()} <{a[who]}>", a["support"], subject, f"{subject}.\n")
    deliver(stack, desk, msg, a[who])
    ref = tickets(desk["config"])[0]["ref"]
    return ref, newest(stack, u["alice"], before + 1)


def inbox(stack: Any, desk: dict[str, Any], who: str) -> int:
    return len(stack.folder_uids(desk["user"][who], "INBOX"))


def body(msg: Any) -> str:
    return str(msg.get_body(("plain",)).get_content())


def say(stack: Any, desk: dict[str, Any], note: Any, top: str) -> None:
    """Alice hits Reply on ``note`` in her client and writes ``top`` above the quote."""
    a = desk["addr"]
    deliver(stack, desk, agent_reply(note, a["alice"], a["support"], top), a["alice"])


def test_merge_by_mail_moves_the_ticket_and_later_mail_follows(
    mailstack: Any, desk: dict[str, Any]
) -> None:
    a, u = desk["addr"], desk["user"]
    first, _ = open_for(mailstack, desk, "carol", "Printer jams")
    duplicate, note = open_for(mailstack, desk, "dan", "Printer jams too")
    told = (inbox(mailstack, desk, "carol"), inbox(mailstack, desk, "dan"))
    say(mailstack, desk, note, f"#merge {first}")
    gone, kept = ticket(desk["config"], duplicate), ticket(desk["config"], first)
    assert (gone["status"], gone["merged_into"]) == ("closed", first)
    assert gone["messages"] == [] and a["dan"] in kept["participants"]
    assert any(e["type"] == "merged" for e in gone["events"])
    assert (inbox(mailstack, desk, "carol"), inbox(mailstack, desk, "dan")) == told

    ack = parse(mailstack.wait_for_messages(u["dan"], count=1)[0])
    again = customer_mail(a["dan"], a["support"], f"Re: {ack['Subject']}", "Still jams.\n",
                          In_Reply_To=ack["Message-ID"])  # fmt: skip
    deliver(mailstack, desk, again, a["dan"])
    assert any("Still jams." in m["text"] for m in ticket(desk["config"], first)["messages"])
    assert ticket(desk["config"], duplicate)["messages"] == []

    reply = agent_reply(note, a["alice"], a["support"], "Fixed for both of you.")
    deliver(mailstack, desk, reply, a["alice"])  # the duplicate's notification, answered
    relay = newest(mailstack, u["carol"], told[0] + 1)
    assert relay["Subject"] == f"Re: [{first}] Printer jams"
    assert a["dan"] in str(relay["Cc"]) and "Fixed for both" in body(relay)


@pytest.mark.parametrize("case", ["unknown", "itself", "closed"])
def test_merge_refused_answers_the_agent_alone(
    mailstack: Any, desk: dict[str, Any], case: str
) -> None:
    u = desk["user"]
    other, other_note = open_for(mailstack, desk, "carol", "Printer jams")
    ref, note = open_for(mailstack, desk, "dan", "Scanner broken")
    if case == "closed":
        say(mailstack, desk, other_note, "#status closed")
    target = {"unknown": "SUP-99999", "itself": ref, "closed": other}[case]
    before = (inbox(mailstack, desk, "alice"), inbox(mailstack, desk, "carol"),
              inbox(mailstack, desk, "dan"))  # fmt: skip
    say(mailstack, desk, note, f"#merge {target}\n\nDan, a duplicate.")
    error = newest(mailstack, u["alice"], before[0] + 1)
    assert "Not applied" in error["Subject"]
    expected = {"unknown": "no ticket SUP-99999", "itself": "into itself", "closed": "is closed"}
    assert expected[case] in body(error)
    assert (inbox(mailstack, desk, "carol"), inbox(mailstack, desk, "dan")) == before[1:]
    assert ticket(desk["config"], ref)["merged_into"] is None


def test_snooze_then_the_jobs_wake_it_and_a_past_snooze_is_refused(
    mailstack: Any, desk: dict[str, Any]
) -> None:
    u = desk["user"]
    ref, note = open_for(mailstack, desk, "carol", "Printer jams")
    say(mailstack, desk, note, "#snooze 2001-01-01")
    error = newest(mailstack, u["alice"], 2)
    assert "in the past" in body(error) and ticket(desk["config"], ref)["status"] == "new"

    say(mailstack, desk, note, "#assign me\n#snooze 2d")
    shown = ticket(desk["config"], ref)
    assert shown["status"] == "pending" and shown["snoozed_until"] is not None
    later = (datetime.now(UTC) + timedelta(days=2, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = mailtix(desk["config"], "jobs", "run", "--at", later).stdout
    assert f"{ref} snooze over" in out
    assert ticket(desk["config"], ref)["status"] == "open"
    woken = newest(mailstack, u["alice"], 3)
    assert "Snooze over" in woken["Subject"]
    assert inbox(mailstack, desk, "carol") == 1  # only the acknowledgement


def test_canned_reply_and_a_broken_one(mailstack: Any, desk: dict[str, Any]) -> None:
    a, u = desk["addr"], desk["user"]
    templates = desk["config"].parent / "templates"
    shutil.copytree(REPO / "templates", templates)
    (templates / "replies" / "broken.txt.j2").write_text("{% if %}\n")
    text = desk["config"].read_text()
    desk["config"].write_text(re.sub(r'dir = ".*"', f'dir = "{templates}"', text))
    ref, note = open_for(mailstack, desk, "carol", "Printer jams")
    assert "#reply NAME" in body(note) and "need-details" in body(note)
    assert f"Your answer goes to: {a['carol']}" in body(note)

    say(mailstack, desk, note, "#reply broken\n\nHi Carol")
    error = newest(mailstack, u["alice"], 2)
    assert "broken.txt.j2" in body(error) and "syntax error" in body(error)
    assert inbox(mailstack, desk, "carol") == 1

    say(mailstack, desk, note, "#reply need-details\n\nHi Carol, sorry!")
    relay = body(newest(mailstack, u["carol"], 2))
    assert relay.index("sorry!") < relay.index("we need a few more details")
    assert "Printer jams" in relay and "#reply" not in relay and "> " not in relay


def test_find_and_history_by_mail_and_on_the_command_line(
    mailstack: Any, desk: dict[str, Any]
) -> None:
    u = desk["user"]
    printer, _ = open_for(mailstack, desk, "carol", "Printer jams on page two")
    open_for(mailstack, desk, "dan", "Scanner broken")
    ref, note = open_for(mailstack, desk, "carol", "Monitor flickers")
    mine = inbox(mailstack, desk, "alice")
    for top in ("#find printer", "#find zebra", "#history"):
        say(mailstack, desk, note, top)
    found, nothing, history = (body(m) for m in (
        parse(raw) for raw in mailstack.wait_for_messages(u["alice"], count=mine + 3)[-3:]
    ))  # fmt: skip
    assert f"[{printer}]" in found and "Scanner" not in found
    assert "No tickets found." in nothing
    assert f"[{printer}]" in history and f"[{ref}]" in history and "Scanner" not in history
    assert inbox(mailstack, desk, "carol") == 2 and inbox(mailstack, desk, "dan") == 1

    shown = json.loads(mailtix(desk["config"], "tickets", "search", "printer", "--json").stdout)
    assert [t["ref"] for t in shown] == [printer]
    assert "no tickets found" in mailtix(desk["config"], "tickets", "search", "zebra").stdout
    merged = mailtix(desk["config"], "tickets", "merge", ref, printer).stdout
    assert f"{ref} merged into {printer}" in merged
    refused = mailtix(desk["config"], "tickets", "merge", ref, printer, check=False)
    assert refused.returncode == 2 and "already merged" in refused.stderr
    shown = json.loads(mailtix(desk["config"], "tickets", "search", "monitor", "--json").stdout)
    assert [t["ref"] for t in shown] == [printer]


def test_a_customer_writing_every_new_command_changes_nothing(
    mailstack: Any, desk: dict[str, Any]
) -> None:
    a, u = desk["addr"], desk["user"]
    other, _ = open_for(mailstack, desk, "dan", "Scanner broken")
    ref, _ = open_for(mailstack, desk, "carol", "Printer jams")
    mine = inbox(mailstack, desk, "alice")
    msg = customer_mail(
        a["carol"], a["support"], f"Re: [{ref}] Printer jams",
        f"#merge {other}\n#snooze 2d\n#reply thanks\n#find Scanner\n#history\n\nHi\n",
    )  # fmt: skip
    deliver(mailstack, desk, msg, a["carol"])
    shown, untouched = ticket(desk["config"], ref), ticket(desk["config"], other)
    assert shown["merged_into"] is None and shown["snoozed_until"] is None
    assert untouched["status"] == "new" and untouched["merged_into"] is None
    assert inbox(mailstack, desk, "carol") == 1  # the acknowledgement, nothing else
    assert inbox(mailstack, desk, "dan") == 1
    customer_reply = newest(mailstack, u["alice"], mine + 1)  # the agents hear of the reply
    assert "Customer reply" in customer_reply["Subject"]


def neomutt_forward(note: Any, desk: dict[str, Any], *, attach: bool) -> Any:
    """What neomutt's ``f`` sends for a notification: subject ``[author: Subject]``, the mail
    inline under its "Forwarded message" lines (forward_decode), or attached (mime_forward)."""
    a = desk["addr"]
    subject = f"[{a['support']}: {note['Subject']}]"
    if attach:
        msg = customer_mail(f"Alice Agent <{a['alice']}>", a["support"], subject, "FYI\n")
        msg.add_attachment(note)  # message/rfc822, 7bit/8bit
        return msg
    inline = (
        f"FYI\n\n----- Forwarded message from ACME Support <{a['support']}> -----\n\n"
        f"Date: {note['Date']}\nFrom: {note['From']}\nTo: {note['To']}\n"
        f"Subject: {note['Subject']}\n\n{body(note)}\n----- End forwarded message -----\n"
    )
    return customer_mail(f"Alice Agent <{a['alice']}>", a["support"], subject, inline)


@pytest.mark.parametrize("attach", [False, True])
def test_forwarding_a_notification_by_mistake_gets_a_hint_not_the_spoofing_warning(
    mailstack: Any, desk: dict[str, Any], attach: bool
) -> None:
    a, u = desk["addr"], desk["user"]
    ref, note = open_for(mailstack, desk, "carol", "Printer jams")
    deliver(mailstack, desk, neomutt_forward(note, desk, attach=attach), a["alice"])
    hint = newest(mailstack, u["alice"], 2)
    assert hint["Subject"] == f"[{ref}] You forwarded a notification: nothing was done"
    assert "Unverified" not in hint["Subject"] and "#customer ADDRESS" in body(hint)
    assert len(tickets(desk["config"])) == 1 and inbox(mailstack, desk, "carol") == 1
    assert ticket(desk["config"], ref)["status"] == "new"


def test_neomutt_forward_of_a_customer_mail_keeps_the_customers_subject(
    mailstack: Any, desk: dict[str, Any]
) -> None:
    a, u = desk["addr"], desk["user"]
    original = customer_mail(f"Carol <{a['carol']}>", a["alice"], "Cannot log in", "Help!\n")
    forward = customer_mail(
        f"Alice Agent <{a['alice']}>", a["support"], f"[{a['carol']}: Cannot log in]",
        "Please help her.\n",
    )  # fmt: skip
    forward.add_attachment(original)
    forward["Authentication-Results"] = "mx.example.test; dmarc=pass header.from=example.test"
    deliver(mailstack, desk, forward, a["alice"])
    [only] = tickets(desk["config"])
    assert (only["customer"], only["subject"]) == (a["carol"], "Cannot log in")
    assert newest(mailstack, u["carol"], 1)["Subject"] == f"[{only['ref']}] Cannot log in"


def outlook_reply(note: Any, desk: dict[str, Any], top: str) -> Any:
    """What Outlook sends on Reply: the notification unquoted under its header block."""
    a = desk["addr"]
    msg = customer_mail(
        f"Alice Agent <{a['alice']}>", a["support"], f"RE: {note['Subject']}",
        f"{top}\n\n________________________________\nFrom: ACME Support <{a['support']}>\n"
        f"Sent: Monday, November 23, 2026 10:00 AM\nTo: Alice Agent <{a['alice']}>\n"
        f"Subject: {note['Subject']}\n\n{body(note)}\n",
    )  # fmt: skip
    msg["In-Reply-To"] = note["Message-ID"]
    msg["References"] = note["Message-ID"]
    return msg


def test_commands_from_an_outlook_reply(mailstack: Any, desk: dict[str, Any]) -> None:
    a, u = desk["addr"], desk["user"]
    first, _ = open_for(mailstack, desk, "carol", "Printer jams")
    ref, note = open_for(mailstack, desk, "carol", "Printer jams again")
    deliver(mailstack, desk, outlook_reply(note, desk, "#history"), a["alice"])
    history = body(newest(mailstack, u["alice"], 3))
    assert f"[{first}]" in history and f"[{ref}]" in history
    deliver(mailstack, desk, outlook_reply(note, desk, "#reply thanks"), a["alice"])
    relay = newest(mailstack, u["carol"], 3)
    text = body(relay)
    assert "thank you for contacting ACME Support" in text and "Printer jams again" in text
    assert "mailtix notice" not in text and "#history" not in text and "Sent:" not in text
    assert a["alice"].encode() not in relay.as_bytes()
    deliver(mailstack, desk, outlook_reply(note, desk, f"#merge {first}"), a["alice"])
    assert ticket(desk["config"], ref)["merged_into"] == first
