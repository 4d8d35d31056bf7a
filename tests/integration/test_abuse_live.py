"""Abuse-proof automatic mail on real servers (Postfix → Dovecot → mailtix → Postfix): a relay-
spam run of 200 mails with 200 forged From addresses and a spam subject, acknowledged bare
(``acknowledge = "authenticated"``) or in full but within ``auto_reply_budget_per_hour``."""

from __future__ import annotations

import json
import sqlite3
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from support.live import customer_mail, mailtix, parse, unique, write_config

pytestmark = pytest.mark.integration

SPAM = "CHEAP PILLS at pills.example - click now"
RUN = 200
MX = "mx.example.test"


def desk(stack: Any, directory: Path, tickets_extra: str) -> dict[str, Any]:
    directory.mkdir()
    support, victim = unique("support"), unique("victim")
    stack.add_user(victim)
    extra = f'[tickets]\n{tickets_extra}\n\n[agents]\ntrusted_authserv_ids = ["{MX}"]\n'
    config = write_config(directory, stack, [{"name": "support", "user": support}], extra=extra)
    return {"config": config, "support": support, "victim": victim, "dir": directory}


def relay_spam_run(stack: Any, d: dict[str, Any], count: int = RUN) -> str:
    """``count`` mails, each From a different address of the victim's (plus addressing: all
    land in one INBOX), the spam in the subject and the display name; then one poll."""
    to = f"{d['support']}@example.test"
    for n in range(count):
        forged = f"{d['victim']}+{n}@customer.test"
        msg = customer_mail(f"Buy pills.example <{forged}>", to, f"{SPAM} #{n}",
                            body="Visit pills.example for cheap pills!\n")  # fmt: skip
        stack.send(msg, forged, [to])
    stack.wait_for_messages(d["support"], count=count, timeout=120)
    proc = mailtix(d["config"], "poll", "--once")
    stack.wait_queue_empty(timeout=60)
    return proc.stderr


def acks(stack: Any, d: dict[str, Any]) -> list[Any]:
    return [parse(raw) for raw in stack.fetch(d["victim"])]


def budget_hits(d: dict[str, Any]) -> int:
    with sqlite3.connect(d["dir"] / "mailtix.db") as db:
        sql = "SELECT COUNT(*) FROM event WHERE type = 'suppressed' AND reason = 'mailbox budget'"
        return int(db.execute(sql).fetchone()[0])


def shows_spam(mail: Any) -> bool:
    text = str(mail["Subject"]) + str(mail["To"])
    text += "".join(
        part.get_content() for part in mail.walk() if part.get_content_maintype() == "text"
    )
    return "pills" in text.lower()


def test_relay_spam_run_authenticated_repeats_nothing_within_the_budget(
    mailstack: Any, tmp_path: Path
) -> None:
    d = desk(mailstack, tmp_path / "desk", 'acknowledge = "authenticated"')
    relay_spam_run(mailstack, d)
    got = acks(mailstack, d)
    repeating = [m for m in got if shows_spam(m)]
    print(f"\nauthenticated: {RUN} forged mails, {len(got)} bare acks sent, "
          f"{len(repeating)} repeating the spam, {budget_hits(d)} budget hits")  # fmt: skip
    assert len(got) == min(RUN, 200)  # the default budget
    assert all(str(m["To"]) == m["To"].addresses[0].addr_spec for m in got)  # no display name
    assert repeating == []
    assert all("[SUP-" in str(m["Subject"]) for m in got)


def test_an_authenticated_sender_gets_the_full_acknowledgement(
    mailstack: Any, tmp_path: Path
) -> None:
    d = desk(mailstack, tmp_path / "desk", 'acknowledge = "authenticated"')
    to, sender = f"{d['support']}@example.test", f"{d['victim']}@customer.test"
    passed = f"{MX}; dmarc=pass header.from=customer.test"
    real = customer_mail(f"Vic <{sender}>", to, "Printer pills out of toner",
                         Authentication_Results=passed)  # fmt: skip
    mailstack.send(real, sender, [to])
    mailstack.wait_for_messages(d["support"], count=1)
    mailtix(d["config"], "poll", "--once")
    [ack] = mailstack.wait_for_messages(d["victim"], count=1)
    assert "Printer pills out of toner" in str(parse(ack)["Subject"])


def test_relay_spam_run_always_stops_at_a_budget_of_ten(mailstack: Any, tmp_path: Path) -> None:
    d = desk(
        mailstack, tmp_path / "desk", 'acknowledge = "always"\nauto_reply_budget_per_hour = 10'
    )
    log = relay_spam_run(mailstack, d)
    got, hits = acks(mailstack, d), budget_hits(d)
    assert log.count("over auto_reply_budget_per_hour") == 1, log  # one warning, not 190
    print(f"\nalways, budget 10: {RUN} forged mails, {len(got)} acks sent, {hits} budget hits")
    assert len(got) == 10
    assert hits == RUN - 10
    tickets = sqlite3.connect(d["dir"] / "mailtix.db").execute("SELECT COUNT(*) FROM ticket")
    assert tickets.fetchone()[0] == RUN  # the tickets are all there; only the mail is held


def test_mail_flagged_by_the_trusted_mx_goes_to_spam_and_one_flagged_below_it_does_not(
    mailstack: Any, tmp_path: Path
) -> None:
    d = desk(mailstack, tmp_path / "desk", "")
    to, sender = f"{d['support']}@example.test", f"{d['victim']}@customer.test"
    verdict = f"{MX}; dmarc=none header.from=customer.test"
    flagged = customer_mail(sender, to, "Flagged by our MX")
    del flagged["From"]  # the MX's headers go on top, as a milter writes them
    raw = (f"X-Spam-Flag: YES\r\nAuthentication-Results: {verdict}\r\nFrom: {sender}\r\n").encode()
    mailstack.send(raw + flagged.as_bytes(), sender, [to])
    forged = customer_mail(sender, to, "Sender says spam below the MX")
    del forged["From"]
    raw = (f"Authentication-Results: {verdict}\r\nFrom: {sender}\r\nX-Spam: Yes\r\n").encode()
    mailstack.send(raw + forged.as_bytes(), sender, [to])
    mailstack.wait_for_messages(d["support"], count=2)
    mailtix(d["config"], "poll", "--once")
    mailstack.wait_queue_empty()
    [spam] = [parse(m) for m in mailstack.fetch(d["support"], "Spam")]
    assert spam["Subject"] == "Flagged by our MX"
    [only] = json.loads(mailtix(d["config"], "tickets", "list", "--json").stdout)
    assert only["subject"] == "Sender says spam below the MX"
    replies = [str(parse(m)["Subject"]) for m in mailstack.fetch(d["victim"])]
    assert replies == [f"[{only['ref']}] Sender says spam below the MX"]
    with sqlite3.connect(d["dir"] / "mailtix.db") as db:
        outcomes = sorted(r[0] for r in db.execute("SELECT outcome FROM receipt"))
    assert outcomes == ["spam", "ticket"]


def test_a_rule_says_spam(mailstack: Any, tmp_path: Path) -> None:
    d = desk(mailstack, tmp_path / "desk", "")
    rule = '[[rule]]\nname = "pills"\nwhen = { subject = "pills" }\nthen = { spam = true }\n'
    (d["dir"] / "routing.toml").write_text(rule)
    to, sender = f"{d['support']}@example.test", f"{d['victim']}@customer.test"
    mailstack.send(customer_mail(sender, to, SPAM), sender, [to])
    mailstack.wait_for_messages(d["support"])
    mailtix(d["config"], "poll", "--once")
    mailstack.wait_queue_empty()
    assert len(mailstack.fetch(d["support"], "Spam")) == 1
    assert json.loads(mailtix(d["config"], "tickets", "list", "--json").stdout) == []
    assert mailstack.fetch(d["victim"]) == []


def agent_answer(note: Any, agent: str, support: str, text: str) -> EmailMessage:
    """The agent hitting Reply on her notification and writing ``text`` on top."""
    msg = EmailMessage()
    msg["From"], msg["To"] = f"Alice <{agent}>", support
    msg["Subject"] = f"Re: {note['Subject']}"
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg["In-Reply-To"] = msg["References"] = note["Message-ID"]
    msg.set_content(f"{text}\n")
    return msg


def report_created(config: Path) -> int:
    proc = mailtix(config, "report", "--format", "json", "--since", "2000-01-01")
    return int(json.loads(proc.stdout)["overall"]["created"])


def test_agent_spam_and_notspam_by_mail(mailstack: Any, tmp_path: Path) -> None:
    directory = tmp_path / "desk"
    directory.mkdir()
    support, carol, alice = unique("support"), unique("carol"), unique("alice")
    mailstack.add_user(carol)
    agent, customer = f"{alice}@example.test", f"{carol}@customer.test"
    to = f"{support}@example.test"
    config = write_config(
        directory, mailstack, [{"name": "support", "user": support}],
        departments=f'[[department]]\nname = "general"\nagents = ["{agent}"]\n',
        extra='[agents]\nsecret = "0123456789abcdef0123"\n',
    )  # fmt: skip

    def deliver(msg: EmailMessage, sender: str, refiled: int = 0) -> None:
        """``refiled``: mails the poll also moves from Processed to Spam (< 0: back)."""
        before = len(mailstack.folder_uids(support, "Processed"))
        spam = len(mailstack.folder_uids(support, "Spam"))
        mailstack.send(msg, sender, [to])
        mailstack.wait_for_messages(support)
        mailtix(config, "poll", "--once")
        assert len(mailstack.folder_uids(support, "Processed")) == before + 1 - refiled
        assert len(mailstack.folder_uids(support, "Spam")) == spam + refiled
        mailstack.wait_queue_empty()

    deliver(customer_mail(customer, to, "Great offer for you"), customer)
    [only] = json.loads(mailtix(config, "tickets", "list", "--json").stdout)
    [note] = [parse(m) for m in mailstack.wait_for_messages(alice)]
    assert len(mailstack.fetch(carol)) == 1 and report_created(config) == 1  # the ack
    deliver(agent_answer(note, agent, to, "#spam\n\nNot a customer."), agent, refiled=1)
    [moved] = mailstack.fetch(support, "Spam")  # the customer's mail, not the agent's
    assert b"Great offer for you" in moved and b"#spam" not in moved
    shown = json.loads(mailtix(config, "tickets", "show", only["ref"], "--json").stdout)
    assert (shown["status"], shown["spam"]) == ("closed", True)
    assert any(e["type"] == "spam" for e in shown["events"])
    assert report_created(config) == 0
    deliver(customer_mail(customer, to, "Another great offer"), customer)
    assert len(mailstack.fetch(carol)) == 1  # no acknowledgement, nor relay of "Not a customer."
    held = sqlite3.connect(directory / "mailtix.db").execute(
        "SELECT COUNT(*) FROM event WHERE type = 'suppressed' AND reason = 'undeliverable'"
    )
    assert held.fetchone()[0] == 1

    deliver(agent_answer(note, agent, to, "#notspam"), agent, refiled=-1)
    shown = json.loads(mailtix(config, "tickets", "show", only["ref"], "--json").stdout)
    assert (shown["status"], shown["spam"]) == ("open", False)
    assert report_created(config) == 2
    deliver(customer_mail(customer, to, "A real question now"), customer)
    assert len(mailstack.fetch(carol)) == 2  # acknowledged again
