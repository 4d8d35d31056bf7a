"""Faults end to end, on the real Dovecot + Postfix: a real DSN, a header-less autoresponder,
kill -9 in the middle of a big batch and of an SMTP send, a poison message, a bad login.

Crashes are real: ``MAILTIX_FAULT=NAME:N`` makes the CLI SIGKILL itself at a named point (see
mailtix/domain/faults.py), so nothing gets to clean up or commit on the way out.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
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
from support.search_index import whole_index

from mailtix.runtime.app import IN_PROCESS_UP_TO

pytestmark = pytest.mark.integration

NO_AGENTS = '[[department]]\nname = "general"\nagents = []\n'  # acknowledgements only
# what a crash may send twice: one message, however many SMTP connections (smtp_sender.py)
IN_FLIGHT = 1


def crash_run(
    config: Path, fault: str, *args: str, expect: int = -9
) -> subprocess.CompletedProcess[str]:
    """The CLI with a fault point armed; it must die by SIGKILL (``expect``: its exit status)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mailtix", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MAILTIX_FAULT": fault},
    )
    assert proc.returncode == expect, (fault, proc.returncode, proc.stdout, proc.stderr)
    return proc


def all_tickets(config: Path) -> list[dict[str, Any]]:
    out = mailtix(config, "tickets", "list", "--json", "--limit", "100000").stdout
    return list(json.loads(out))


def acks(config: Path) -> list[dict[str, Any]]:
    return [i for i in outbox_items(config, include_sent=True) if i["kind"] == "acknowledgement"]


def event_types(config: Path, ref: str) -> list[tuple[str, str]]:
    return [(e["type"], e["detail"]) for e in ticket(config, ref)["events"]]


def maildir_recipients(maildir: Path) -> Counter[str]:
    """How many files the Maildir sink holds per recipient (its Delivered-To lines)."""
    counts: Counter[str] = Counter()
    for sub in ("new", "cur"):
        for path in (maildir / sub).glob("*") if (maildir / sub).is_dir() else []:
            head = path.read_bytes().split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
            for line in head.splitlines():
                if line.startswith("Delivered-To: "):
                    counts[line.split(": ", 1)[1].strip()] += 1
    return counts


# -- 1. a real bounce ------------------------------------------------------------------------


def test_real_dsn_is_filed_on_its_ticket_and_suppresses_the_address(
    mailstack: Any, tmp_path: Path
) -> None:
    """The ack goes to a From address that does not exist; Postfix's own DSN comes back to the
    support mailbox; it is filed on the ticket, never answered, and the address is suppressed."""
    support, carol, ghost = unique("support"), unique("carol"), unique("ghost")
    mailstack.add_user(carol)  # ghost is never added: LMTP answers 550 5.1.1 user unknown
    support_addr = f"{support}@example.test"
    carol_addr, ghost_addr = f"{carol}@customer.test", f"{ghost}@customer.test"
    config = write_config(
        tmp_path, mailstack, [{"name": "support", "user": support}], departments=NO_AGENTS
    )

    mailstack.send(customer_mail(ghost_addr, support_addr, "Help me"), carol_addr, [support_addr])
    mailstack.wait_for_messages(support, count=1)
    out = mailtix(config, "poll", "--once").stdout
    assert "1 ticket" in out and "outbox: 1 sent" in out, out
    [first] = tickets(config)
    assert first["customer"] == ghost_addr

    [dsn] = mailstack.wait_for_messages(support, count=1, timeout=15)  # Postfix's bounce
    report = parse(dsn)
    print(f"\nDSN: From: {report['From']}; Subject: {report['Subject']}")
    assert "report-type=delivery-status" in report["Content-Type"].replace('"', "")

    out = mailtix(config, "poll", "--once").stdout
    assert "1 followup" in out and "outbox: nothing to send" in out, out
    assert [t["ref"] for t in tickets(config)] == [first["ref"]]  # no ticket for the DSN
    events = event_types(config, first["ref"])
    bounce = [d for t, d in events if t == "bounce"]
    assert len(bounce) == 1 and ghost_addr in bounce[0] and "permanent" in bounce[0], events
    undeliverable = [d for t, d in events if t == "undeliverable"]
    assert len(undeliverable) == 1 and ghost_addr in undeliverable[0], events
    assert mailstack.folder_uids(support) == []
    assert len(mailstack.folder_uids(support, "Processed")) == 2

    # ghost writes again: a ticket, but no automatic mail to an address known to bounce
    mailstack.send(customer_mail(ghost_addr, support_addr, "Again"), carol_addr, [support_addr])
    mailstack.wait_for_messages(support, count=1)
    out = mailtix(config, "poll", "--once").stdout
    assert "1 ticket" in out and "outbox: nothing to send" in out, out
    [second] = [t for t in tickets(config) if t["ref"] != first["ref"]]
    suppressed = [d for t, d in event_types(config, second["ref"]) if t == "suppressed"]
    assert len(suppressed) == 1 and ghost_addr in suppressed[0], suppressed
    assert "undeliverable" in suppressed[0]

    items = outbox_items(config, include_sent=True)  # only the first ack ever: no DSN reply
    assert [(i["kind"], i["ticket"], i["recipients"], i["status"]) for i in items] == [
        ("acknowledgement", first["ref"], [ghost_addr], "sent")
    ]
    mailstack.wait_queue_empty()
    assert mailstack.folder_uids(support) == []  # nothing more came back
    assert mailstack.folder_uids(carol) == []  # the envelope sender never hears from us


# -- 2. a header-less autoresponder ---------------------------------------------------------


def test_headerless_autoresponder_loop_dies_at_the_rate_limit(
    mailstack: Any, tmp_path: Path
) -> None:
    """An autoresponder that answers every ack with a brand-new mail (no threading headers, no
    Auto-Submitted, no ticket tag) gets at most ``auto_reply_limit_per_hour`` (5) acks."""
    support, dave = unique("support"), unique("dave")
    mailstack.add_user(dave)
    support_addr, dave_addr = f"{support}@example.test", f"{dave}@customer.test"
    config = write_config(
        tmp_path, mailstack, [{"name": "support", "user": support}], departments=NO_AGENTS
    )
    mailstack.send(customer_mail(dave_addr, support_addr, "Printer"), dave_addr, [support_addr])
    mailstack.wait_for_messages(support, count=1)

    seen = 0
    rounds: list[tuple[int, int, int]] = []  # (round, new acks, autoresponses sent)
    for number in range(1, 9):
        mailtix(config, "poll", "--once")
        mailstack.wait_queue_empty()
        inbox = mailstack.fetch(dave)
        new = inbox[seen:]
        seen = len(inbox)
        for raw in new:
            assert "[SUP-" in parse(raw)["Subject"]
            reply = customer_mail(dave_addr, support_addr, "Thank you for your message")
            reply.set_content("We received your message and will answer soon.\n")
            mailstack.send(reply, dave_addr, [support_addr])
        mailstack.wait_queue_empty()
        rounds.append((number, len(new), len(new)))
        print(f"round {number}: {len(new)} new ack(s), {len(new)} autoresponse(s) sent")

    assert seen == 5, rounds  # the default auto_reply_limit_per_hour
    assert [n for _, n, _ in rounds[:5]] == [1, 1, 1, 1, 1], rounds
    assert all(n == 0 for _, n, _ in rounds[5:]), rounds  # the loop died out
    assert mailstack.folder_uids(support) == []

    made = tickets(config)
    assert len(made) == 6, [t["subject"] for t in made]  # 1 + 5 autoresponses, no more
    ack_refs = {a["ticket"] for a in acks(config)}
    assert len(acks(config)) == 5 and all(a["recipients"] == [dave_addr] for a in acks(config))
    for extra in (t for t in made if t["ref"] not in ack_refs):
        suppressed = [d for t, d in event_types(config, extra["ref"]) if t == "suppressed"]
        assert len(suppressed) == 1 and "rate limit" in suppressed[0], suppressed
    assert len(mailstack.folder_uids(dave)) == 5


# -- 3. kill -9 in the middle of a 300-message batch ----------------------------------------


@pytest.mark.parametrize(
    ("fault", "committed_before"),
    [("after-commit:2", 200), ("after-fetch:140", 100)],
    ids=["after-the-2nd-commit", "at-the-140th-message"],
)
def test_kill_in_a_300_message_batch_loses_and_doubles_nothing(
    mailstack: Any, tmp_path: Path, fault: str, committed_before: int
) -> None:
    """Killed half-way through intake (the outbox drains meanwhile in its sender process),
    then restarted: every message one ticket and one ack row; an ack file is written twice only
    for rows that were in flight at the kill. New messages are committed 100 at a time
    (pipeline.GROUP_SIZE), so the kill leaves the groups committed before it, and the 2nd
    commit is the one of the 200th message."""
    support = unique("support")
    sent = tmp_path / "sent"
    config = write_config(
        tmp_path,
        mailstack,
        [{"name": "support", "user": support}],
        departments=NO_AGENTS,
        smtp_maildir=str(sent),
        extra="[tickets]\nauto_reply_budget_per_hour = 1000\n",  # 300 acks within the hour
    )
    batch = unique("batch")
    senders = [f"{batch}-{n}@customer.test" for n in range(300)]
    started = time.monotonic()
    with mailstack.imap(support) as client:
        for n, sender in enumerate(senders):
            msg = customer_mail(sender, f"{support}@example.test", f"Question {n}")
            client.append("INBOX", msg.as_bytes())
    appended = time.monotonic()

    crash_run(config, fault, "poll", "--once")
    crashed = time.monotonic()
    committed = len(all_tickets(config))
    assert committed == committed_before, committed
    early = sum(maildir_recipients(sent).values())  # acks sent while intake went on
    left = len(mailstack.folder_uids(support))
    moved = len(mailstack.folder_uids(support, "Processed"))
    print(f"\n{fault}: after the crash {committed} tickets, {left} in INBOX, {moved} moved")
    print(f"acks out before the crash: {early}")
    assert left + moved == 300 and moved < 300

    out = mailtix(config, "poll", "--once").stdout
    finished = time.monotonic()
    print(out.strip())
    print(
        f"append {appended - started:.1f} s, crash run {crashed - appended:.1f} s, "
        f"restart {finished - crashed:.1f} s"
    )

    made = all_tickets(config)
    assert len(made) == 300
    assert sorted(t["customer"] for t in made) == sorted(senders)  # one ticket per customer
    assert mailstack.folder_uids(support) == []
    assert len(mailstack.folder_uids(support, "Processed")) == 300
    rows = acks(config)
    per_ticket = Counter(a["ticket"] for a in rows)
    assert set(per_ticket) == {t["ref"] for t in made} and set(per_ticket.values()) == {1}
    assert all(a["status"] == "sent" for a in rows)
    files = maildir_recipients(sent)
    assert set(files) == set(senders)
    doubled = sorted(r for r, n in files.items() if n > 1)
    print(f"acks written twice: {doubled} (bound: {IN_FLIGHT} in flight)")
    assert len(doubled) <= IN_FLIGHT and max(files.values()) <= 2, files
    # the groups killed in the middle left no index mark and no entry of a rolled-back row:
    # every stored message (a mail and its acknowledgement each) is indexed once
    store = sqlite3.connect(tmp_path / "mailtix.db")
    try:
        stored = store.execute("SELECT count(*) FROM message").fetchone()[0]
        assert whole_index(store) == stored == 600
    finally:
        store.close()


# -- 4. kill -9 during an SMTP send -----------------------------------------------------------


@pytest.mark.parametrize(
    ("connections", "count"), [(1, 8), (3, 8), (1, IN_PROCESS_UP_TO + 4), (3, IN_PROCESS_UP_TO + 4)]
)
def test_kill_during_smtp_send_repeats_at_most_one_ack(
    mailstack: Any, tmp_path: Path, connections: int, count: int
) -> None:
    """Killed after Postfix accepted an ack but before its row was marked sent: the restart
    sends the rest; only the ack in flight at the kill arrives twice, also with several
    connections (their DATA commands take turns, each marked before the next); whether the
    poll sent them itself after polling (a small poll) or from its sender process."""
    support = unique("support")
    support_addr = f"{support}@example.test"
    customers = [unique("erin") for _ in range(count)]
    for user in customers:
        mailstack.add_user(user)
    config = write_config(
        tmp_path, mailstack, [{"name": "support", "user": support}], departments=NO_AGENTS,
        smtp_connections=connections,
    )  # fmt: skip
    for n, user in enumerate(customers):
        addr = f"{user}@customer.test"
        mailstack.send(customer_mail(addr, support_addr, f"Send crash {n}"), addr, [support_addr])
    mailstack.wait_for_messages(support, count=len(customers))

    if count > IN_PROCESS_UP_TO:
        # a big poll sends from a child process (mailtix/outbound/sender_process.py): the
        # SIGKILL takes the sender down in the middle of its work, and the poll says so
        killed = crash_run(config, "during-send:3", "poll", "--once", expect=1)
        assert "sender process was killed by signal 9" in killed.stdout, killed.stdout
    else:  # a small one sends after polling, itself: the SIGKILL takes the whole poll down
        crash_run(config, "during-send:3", "poll", "--once")
    out = mailtix(config, "poll", "--once").stdout
    print(f"\n{out.strip()}")
    mailstack.wait_queue_empty()

    copies = {user: len(mailstack.folder_uids(user)) for user in customers}
    print(f"acks per customer: {copies}")
    assert all(n >= 1 for n in copies.values()), copies  # every ack delivered
    doubled = [user for user, n in copies.items() if n > 1]
    assert len(doubled) <= IN_FLIGHT and max(copies.values()) <= 2, copies
    assert len(tickets(config)) == len(customers)
    assert len(acks(config)) == len(customers)
    assert all(a["status"] == "sent" for a in acks(config))
    assert mailstack.folder_uids(support) == []


# -- 5. a poison message ------------------------------------------------------------------------


def test_message_that_kills_the_process_is_quarantined_after_three_attempts(
    mailstack: Any, tmp_path: Path
) -> None:
    support = unique("support")
    config = write_config(
        tmp_path,
        mailstack,
        [{"name": "support", "user": support}],
        departments=NO_AGENTS,
        smtp_maildir=str(tmp_path / "sent"),
    )
    batch = unique("poison")
    uids = [
        mailstack.append(
            support,
            "INBOX",
            customer_mail(f"{batch}-{n}@customer.test", f"{support}@example.test", f"Msg {n}"),
        )
        for n in range(3)
    ]

    for _ in range(3):  # the first message takes the process down every time
        crash_run(config, "after-fetch:1", "poll", "--once")
        assert mailstack.folder_uids(support) == uids
    assert tickets(config) == []

    out = mailtix(config, "poll", "--once").stdout
    assert "1 quarantined" in out and "2 ticket" in out, out
    assert sorted(t["subject"] for t in tickets(config)) == ["Msg 1", "Msg 2"]
    assert mailstack.folder_uids(support) == []
    assert len(mailstack.folder_uids(support, "Quarantine")) == 1
    assert len(mailstack.folder_uids(support, "Processed")) == 2

    [held] = json.loads(mailtix(config, "quarantine", "list", "--json").stdout)
    print(f"\nquarantined: {held['reason']}")
    assert held["uid"] == uids[0] and held["mailbox"] == "support"
    assert held["reason"].startswith("gave up after 3 attempts"), held

    out = mailtix(config, "poll", "--once").stdout  # not retried by later polls
    assert "nothing new" in out, out
    assert len(json.loads(mailtix(config, "quarantine", "list", "--json").stdout)) == 1

    out = mailtix(config, "quarantine", "retry", str(held["id"])).stdout
    assert out.startswith("ticket SUP-"), out
    assert sorted(t["subject"] for t in tickets(config)) == ["Msg 0", "Msg 1", "Msg 2"]
    [after] = json.loads(mailtix(config, "quarantine", "list", "--json").stdout)
    assert after["status"] == "released", after
    assert len(acks(config)) == 3


# -- 6. login failure ---------------------------------------------------------------------------


def test_check_connect_says_what_it_logged_in_to(mailstack: Any, tmp_path: Path) -> None:
    support = unique("support")
    config = write_config(tmp_path, mailstack, [{"name": "support", "user": support}])
    proc = mailtix(config, "check", "--connect")
    assert proc.returncode == 0, proc.stderr
    expected = (
        f"connected to mailbox support ({mailstack.host}:{mailstack.imap_port}), "
        f"smtp {mailstack.host}:{mailstack.smtp_port}"
    )
    assert any(line.endswith(expected) for line in proc.stdout.splitlines()), proc.stdout
    assert "connected" not in mailtix(config, "check").stdout  # without --connect: no claim


def test_check_connect_creates_no_folder_and_says_which_the_first_poll_would(
    mailstack: Any, tmp_path: Path
) -> None:
    support = unique("support")
    config = write_config(tmp_path, mailstack, [{"name": "support", "user": support}])
    proc = mailtix(config, "check", "--connect")
    assert proc.returncode == 0, proc.stderr
    assert "mailbox support: would create Processed, Quarantine, Spam (the first poll does)" in (
        proc.stdout.splitlines()
    ), proc.stdout
    with mailstack.imap(support) as client:
        assert not client.folder_exists("Processed") and not client.folder_exists("Quarantine")

    mailtix(config, "poll", "--once")  # polling does create them; a check then has nothing to say
    again = mailtix(config, "check", "--connect")
    assert "would create" not in again.stdout, again.stdout


def test_check_connect_names_the_mailbox_with_a_wrong_password(
    mailstack: Any, tmp_path: Path
) -> None:
    """(The poll side - the good mailbox is still served - is in test_crash_windows.py.)"""
    support, billing = unique("support"), unique("billing")
    # the failing mailbox first: the good login after it resets Dovecot's auth penalty
    config = write_config(
        tmp_path,
        mailstack,
        [
            {"name": "billing", "user": billing, "password": "wrong"},
            {"name": "support", "user": support},
        ],
    )
    started = time.monotonic()
    proc = mailtix(config, "check", "--connect", check=False)
    print(f"\ncheck --connect took {time.monotonic() - started:.2f} s: {proc.stderr.strip()}")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("connect: mailbox billing:"), lines
    assert re.search(r"AUTHENTICATIONFAILED|authentication failed", lines[0], re.I), lines
    assert "support" not in lines[0]
