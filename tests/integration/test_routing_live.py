"""Routing rules on real servers (Postfix → Dovecot → mailtix → Postfix): departments, priority
and tags; ignore; acknowledge = false; round-robin; one mail to two support addresses; hot
reload of routing.toml in a running daemon; and `rules test`, which changes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
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

pytestmark = pytest.mark.integration

RULES = """
[[rule]]
name = "Newsletters are dropped"
when = { subject = '^\\[newsletter\\]' }
then = { ignore = true }

[[rule]]
name = "Invoices go to billing"
when = { subject = "invoice|refund", from_domain = ["customer.test"] }
then = { department = "billing", priority = "high", tags = ["invoice"] }

[[rule]]
name = "Quiet please"
when = { subject = "^quiet" }
then = { acknowledge = false }
"""

INVOICE_RULE = """
[[rule]]
name = "Invoices go to billing"
when = { subject = "invoice" }
then = { department = "billing" }
"""


def departments(general: list[str], billing: list[str], away: tuple[str, ...] = ()) -> str:
    text = (
        f'[[department]]\nname = "general"\nagents = {json.dumps(general)}\n\n'
        f'[[department]]\nname = "billing"\nagents = {json.dumps(billing)}\n'
    )
    for email in away:
        text += f'\n[[agent]]\nemail = "{email}"\naway = true\n'
    return text


@pytest.fixture
def desk(mailstack: Any, tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """Factory: a fresh support mailbox (plus more mailboxes), customer and agents, and config."""

    def make(
        routing: str = RULES,
        extra_mailboxes: tuple[str, ...] = (),
        away: tuple[str, ...] = (),
        poll_interval: int = 2,
        subdir: str = "desk",
    ) -> dict[str, Any]:
        directory = tmp_path / subdir
        directory.mkdir()
        users = {k: unique(k) for k in ("support", "carol", "ann", "ben", "bill", *extra_mailboxes)}
        mailstack.add_user(users["carol"])
        addr = {
            k: f"{v}@{'customer' if k == 'carol' else 'example'}.test" for k, v in users.items()
        }
        boxes = [{"name": "support", "user": users["support"], "poll_interval": poll_interval}]
        boxes += [{"name": k, "user": users[k], "department": "billing"} for k in extra_mailboxes]
        config = write_config(
            directory,
            mailstack,
            boxes,
            routing=routing,
            departments=departments(
                [addr["ann"], addr["ben"]], [addr["bill"]], tuple(addr[a] for a in away)
            ),
        )
        return {"config": config, "user": users, "addr": addr, "dir": directory}

    return make


def send_and_poll(stack: Any, d: dict[str, Any], *subjects: str) -> list[str]:
    """Each subject as one customer mail to support, then one `poll --once`; their Message-IDs."""
    ids = []
    for subject in subjects:
        msg = customer_mail(f"Carol <{d['addr']['carol']}>", d["addr"]["support"], subject)
        stack.send(msg, d["addr"]["carol"], [d["addr"]["support"]])
        ids.append(str(msg["Message-ID"]))
    stack.wait_for_messages(d["user"]["support"], count=len(subjects))
    mailtix(d["config"], "poll", "--once")
    return ids


def settled_inbox(stack: Any, user: str) -> list[bytes]:
    """The user's INBOX once Postfix has nothing left to deliver."""
    stack.wait_queue_empty()
    return stack.fetch(user)


def test_invoice_goes_to_billing_with_priority_and_tag_and_rules_test_changes_nothing(
    mailstack: Any, desk: Callable[..., dict[str, Any]]
) -> None:
    d = desk()
    send_and_poll(mailstack, d, "Refund for invoice 4711 please")
    [only] = tickets(d["config"])
    shown = ticket(d["config"], only["ref"])
    assert (shown["department"], shown["priority"], shown["tags"]) == (
        "billing",
        "high",
        ["invoice"],
    )
    created = [e for e in shown["events"] if e["type"] == "created"]
    assert created and "Invoices go to billing" in created[0]["detail"]
    [ack] = mailstack.wait_for_messages(d["user"]["carol"], count=1)
    assert parse(ack)["Subject"] == f"[{only['ref']}] Refund for invoice 4711 please"

    # (g) `rules test` on the same kind of mail: the decision, and the store untouched.
    eml = d["dir"] / "invoice.eml"
    eml.write_bytes(
        customer_mail(
            f"Carol <{d['addr']['carol']}>", d["addr"]["support"], "Invoice 4712 is wrong"
        ).as_bytes()
    )
    before = (tickets(d["config"]), outbox_items(d["config"], include_sent=True))
    result = json.loads(mailtix(d["config"], "rules", "test", str(eml), "--json").stdout)
    assert result["decision"]["department"] == "billing"
    assert result["decision"]["priority"] == "high"
    assert result["decision"]["matched_rules"] == ["Invoices go to billing"]
    assert [r["rule"] for r in result["rules"]] == [
        "Newsletters are dropped",
        "Invoices go to billing",
        "Quiet please",
    ]
    assert result["rules"][0]["matched"] is False
    assert result["rules"][0]["reasons"] == [
        'subject "Invoice 4712 is wrong" does not match /^\\[newsletter\\]/'
    ]
    with_mailbox = mailtix(d["config"], "rules", "test", str(eml), "--mailbox", "support")
    assert "billing" in with_mailbox.stdout
    after = (tickets(d["config"]), outbox_items(d["config"], include_sent=True))
    assert after == before and len(after[0]) == 1


def test_ignore_rule_stores_nothing_answers_nothing_but_moves_the_mail(
    mailstack: Any, desk: Callable[..., dict[str, Any]]
) -> None:
    d = desk()
    send_and_poll(mailstack, d, "[newsletter] Our autumn offers")
    assert tickets(d["config"]) == []
    assert outbox_items(d["config"], include_sent=True) == []
    assert settled_inbox(mailstack, d["user"]["carol"]) == []  # no acknowledgement
    assert settled_inbox(mailstack, d["user"]["ann"]) == []  # no agent notification
    assert mailstack.folder_uids(d["user"]["support"], "INBOX") == []
    assert len(mailstack.folder_uids(d["user"]["support"], "Processed")) == 1
    assert mailstack.folder_uids(d["user"]["support"], "Quarantine") == []


def test_acknowledge_false_opens_a_ticket_without_an_ack(
    mailstack: Any, desk: Callable[..., dict[str, Any]]
) -> None:
    d = desk()
    send_and_poll(mailstack, d, "quiet: just for your records")
    [only] = tickets(d["config"])
    shown = ticket(d["config"], only["ref"])
    assert [e["type"] for e in shown["events"]].count("no-ack") == 1
    assert settled_inbox(mailstack, d["user"]["carol"]) == []
    # the agents are still told about the new ticket
    assert len(mailstack.wait_for_messages(d["user"]["ann"], count=1)) == 1
    assert len(mailstack.folder_uids(d["user"]["support"], "Processed")) == 1


ROUND_ROBIN = '[[rule]]\nname = "Share the work"\nthen = { assign = "round-robin" }\n'


@pytest.mark.parametrize(
    "away, expected", [((), ["ann", "ben", "ann"]), (("ann",), ["ben", "ben", "ben"])]
)
def test_round_robin_takes_turns_and_skips_agents_away(
    mailstack: Any,
    desk: Callable[..., dict[str, Any]],
    away: tuple[str, ...],
    expected: list[str],
) -> None:
    d = desk(routing=ROUND_ROBIN, away=away)
    send_and_poll(mailstack, d, "First problem", "Second problem", "Third problem")
    found = sorted(tickets(d["config"]), key=lambda t: t["id"])  # Postfix may reorder them
    assert sorted(t["subject"] for t in found) == [
        "First problem",
        "Second problem",
        "Third problem",
    ]
    assert [t["assignee"] for t in found] == [d["addr"][name] for name in expected]
    assert all(t["department"] == "general" for t in found)


def test_one_mail_to_two_support_addresses_is_one_ticket(
    mailstack: Any, desk: Callable[..., dict[str, Any]]
) -> None:
    d = desk(routing="", extra_mailboxes=("billing",))
    support, billing = d["addr"]["support"], d["addr"]["billing"]
    msg = customer_mail(f"Carol <{d['addr']['carol']}>", f"{support}, {billing}", "Charged twice")
    mailstack.send(msg, d["addr"]["carol"], [support, billing])  # one transaction, two RCPT
    mailstack.wait_for_messages(d["user"]["support"], count=1)
    mailstack.wait_for_messages(d["user"]["billing"], count=1)
    mailtix(d["config"], "poll", "--once")

    [only] = tickets(d["config"])
    events = [e["type"] for e in ticket(d["config"], only["ref"])["events"]]
    assert events.count("copy") == 1
    for user in (d["user"]["support"], d["user"]["billing"]):
        assert mailstack.folder_uids(user, "INBOX") == []
        [kept] = mailstack.fetch(user, "Processed")
        assert parse(kept)["Message-ID"] == msg["Message-ID"]
    [ack] = settled_inbox(mailstack, d["user"]["carol"])
    assert parse(ack)["Subject"] == f"[{only['ref']}] Charged twice"


# --- hot reload in a running daemon --------------------------------------------------------


def bump(path: Path, text: str) -> None:
    """Write ``text`` and move the mtime forward so the change is seen at the next look."""
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))


def wait_for_log(proc: subprocess.Popen[bytes], log: Path, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace")
        if text in content:
            return content
        if proc.poll() is not None:
            pytest.fail(f"daemon exited {proc.returncode}:\n{content}")
        time.sleep(0.1)
    pytest.fail(f"{text!r} not logged within {timeout} s:\n{log.read_text(errors='replace')}")


def test_daemon_reloads_rules_and_keeps_the_last_good_ones(
    mailstack: Any, desk: Callable[..., dict[str, Any]]
) -> None:
    d = desk(routing="", poll_interval=60)  # IMAP IDLE delivers within seconds
    config, routing = d["config"], d["dir"] / "routing.toml"
    carol, support = d["addr"]["carol"], d["addr"]["support"]
    stderr_path = d["dir"] / "daemon.stderr"
    sent = 0

    def send(subject: str) -> None:
        """One customer mail; wait for its ack (so its ticket is committed)."""
        nonlocal sent
        mailstack.send(customer_mail(f"Carol <{carol}>", support, subject), carol, [support])
        sent += 1
        mailstack.wait_for_messages(d["user"]["carol"], count=sent, timeout=20)

    def department(subject: str) -> str:
        [found] = [t for t in tickets(config) if t["subject"] == subject]
        return str(found["department"])

    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mailtix", "--config", str(config), "-v", "run"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        wait_for_log(proc, stderr_path, "mailtix running", 20)
        send("Invoice 1 before any rule")
        assert department("Invoice 1 before any rule") == "general"

        bump(routing, INVOICE_RULE)
        wait_for_log(proc, stderr_path, "config reloaded: 1 rule(s)", 6)
        send("Invoice 2 after the rule")
        assert department("Invoice 2 after the rule") == "billing"

        bump(routing, INVOICE_RULE.replace('"invoice"', '"(invoice"'))
        log = wait_for_log(proc, stderr_path, "last good rules stay in force", 6)
        check = mailtix(config, "check", check=False)
        assert check.returncode == 2
        check_lines = check.stderr.strip().splitlines()
        assert check_lines and all("routing.toml" in line for line in check_lines), check.stderr
        for line in check_lines:
            assert f"config not reloaded: {line}" in log, (line, log)
        send("Invoice 3 after a broken edit")  # the CLI refuses the broken file; asked below
        assert proc.poll() is None, "the daemon died on a broken routing.toml"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"daemon ignored SIGTERM:\n{stderr_path.read_text()}")
    log = stderr_path.read_text(errors="replace")
    assert code == 0, log
    assert "Traceback" not in log and "mailtix stopped" in log
    routing.write_text(INVOICE_RULE)  # so that the CLI reads the store again
    assert department("Invoice 3 after a broken edit") == "billing"  # the last good rules
    assert len(tickets(config)) == 3
