"""Postfix -> LMTP -> mailtix with a real Postfix: every address of ``desk.test`` goes to
``mailtix lmtp`` (a transport_maps entry of a stack of its own). A mail Postfix accepted becomes
exactly one ticket; kill -9 of mailtix in the middle of a burst loses nothing and doubles
nothing (Postfix retries what was not acknowledged); an oversized mail and an unknown address
are refused and bounced by Postfix to the sender; ``mailtix run`` with [lmtp] listen delivers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.live import REPO, customer_mail, mailtix, outbox_items, parse, tickets, unique
from support.lmtp_stack import DESK, lmtp_stack
from support.mailstack import MailStack, free_ports

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[MailStack]:
    """A stack of its own: Postfix sends desk.test to mailtix's LMTP port."""
    with lmtp_stack() as found:
        yield found


def port_of(stack: MailStack) -> int:
    return int(stack.mailtix_lmtp_port)  # type: ignore[attr-defined]


def desk(stack: MailStack, tmp_path: Path, small: bool = False) -> dict[str, Any]:
    """A config whose mailboxes are delivered by LMTP only (no host, nothing polled): "support"
    at support-N@desk.test, and with ``small`` "small" (2 KB at most); acknowledgements go out
    through the stack's Postfix to carol-N@customer.test, who has a real mailbox."""
    support, little, carol = unique("support"), unique("small"), unique("carol")
    stack.add_user(carol)
    boxes = [("support", support, "")]
    boxes += [("small", little, "max_message_bytes = 2048\n")] if small else []
    text = f"""\
[store]
url = "sqlite:///mailtix.db"

[smtp]
host = "{stack.host}"
port = {stack.smtp_port}
security = "none"

[templates]
dir = "{REPO / "templates"}"

[lmtp]
listen = "127.0.0.1:{port_of(stack)}"
"""
    for name, user, more in boxes:
        text += f'\n[[mailbox]]\nname = "{name}"\naddress = "{user}@{DESK}"\n{more}'
    config = tmp_path / "mailtix.toml"
    config.write_text(text)
    return {
        "config": config,
        "support": f"{support}@{DESK}",
        "small": f"{little}@{DESK}",
        "carol": carol,
        "carol_addr": f"{carol}@customer.test",
    }


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as conn:
        return conn.recv(64).startswith(b"220")
    return False


@contextlib.contextmanager
def serving(stack: MailStack, config: Path, *command: str) -> Iterator[subprocess.Popen[bytes]]:
    """``mailtix COMMAND`` running (lmtp, or run), until the block ends (SIGTERM)."""
    proc = start(stack, config, *command)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start(stack: MailStack, config: Path, *command: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "mailtix", "--config", str(config), *(command or ("lmtp",))]
    log = open(config.parent / "mailtix.log", "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    wait_until(
        f"mailtix {' '.join(command)} listening", lambda: listening(port_of(stack)) or
        proc.poll() is not None, 60,
    )  # fmt: skip
    if proc.poll() is not None:
        raise AssertionError((config.parent / "mailtix.log").read_text())
    return proc


def bounces(stack: MailStack, user: str, count: int) -> list[str]:
    found = stack.wait_for_messages(user, count=count, timeout=60)
    return [m.decode("utf-8", "replace") for m in found]


def test_a_mail_through_postfix_becomes_one_ticket_and_ack(
    stack: MailStack, tmp_path: Path
) -> None:
    d = desk(stack, tmp_path)
    with serving(stack, d["config"]):
        msg = customer_mail(d["carol_addr"], d["support"], "Through Postfix by LMTP")
        stack.send(msg, d["carol_addr"], [d["support"]])
        wait_until("one ticket", lambda: len(tickets(d["config"])) == 1)
        stack.wait_queue_empty(timeout=30)
        [ack] = stack.wait_for_messages(d["carol"], count=1, timeout=30)
    [only] = tickets(d["config"])
    assert only["subject"] == "Through Postfix by LMTP"
    assert only["customer"] == d["carol_addr"]
    assert parse(ack)["Subject"] == f"[{only['ref']}] Through Postfix by LMTP"
    assert len(outbox_items(d["config"], include_sent=True)) == 1
    log = stack.log_tail(200)
    assert f"to=<{d['support']}>" in log and f"250 2.0.0 ticket {only['ref']}" in log


def stored_tickets(config: Path) -> int:
    """Tickets committed so far, read straight from the SQLite file (the CLI is too slow to
    catch a burst in the middle)."""
    with contextlib.closing(sqlite3.connect(config.parent / "mailtix.db", timeout=10)) as db:
        return int(db.execute("SELECT count(*) FROM ticket").fetchone()[0])


def test_kill_9_in_a_burst_loses_nothing_and_doubles_nothing(
    stack: MailStack, tmp_path: Path
) -> None:
    d = desk(stack, tmp_path)
    count = 200
    subjects = [f"Burst {n:03d}" for n in range(count)]
    proc = start(stack, d["config"], "lmtp")

    def burst() -> None:
        for subject in subjects:
            stack.send(customer_mail(d["carol_addr"], d["support"], subject),
                       d["carol_addr"], [d["support"]])  # fmt: skip

    sending = threading.Thread(target=burst)
    sending.start()
    try:
        wait_until("a few tickets", lambda: stored_tickets(d["config"]) >= 20, 60)
        os.kill(proc.pid, signal.SIGKILL)  # in the middle: Postfix still holds the rest
        proc.wait(10)
        made = stored_tickets(d["config"])
        sending.join(120)  # Postfix accepts (and queues) the whole burst meanwhile
        assert made < count, "the burst was over before the kill; nothing was tested"
        time.sleep(1)  # Postfix finds the port closed and defers what is left
        proc = start(stack, d["config"], "lmtp")
        stack.flush_queue()
        wait_until("every ticket", lambda: stored_tickets(d["config"]) >= count, 180)
        stack.wait_queue_empty(timeout=60)
    finally:
        sending.join(120)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    listed = mailtix(d["config"], "tickets", "list", "--limit", "1000", "--json").stdout
    assert sorted(t["subject"] for t in json.loads(listed)) == subjects  # each exactly once
    with contextlib.closing(sqlite3.connect(d["config"].parent / "mailtix.db")) as db:
        twice = "SELECT ticket_id FROM outbox GROUP BY ticket_id HAVING count(*) > 1"
        assert db.execute(twice).fetchall() == []  # no acknowledgement queued twice
        kept = "SELECT outcome, count(*) FROM receipt GROUP BY outcome"
        outcomes = dict(db.execute(kept).fetchall())
        assert outcomes.get("ticket") == count
    assert proc.returncode == 0
    retried = outcomes.get("duplicate", 0)  # committed, not acknowledged, delivered again
    print(f"killed with {made} of {count} tickets committed; {retried} redelivered duplicates")


def test_oversized_is_refused_552_and_postfix_bounces_it(stack: MailStack, tmp_path: Path) -> None:
    d = desk(stack, tmp_path, small=True)
    with serving(stack, d["config"]):
        big = customer_mail(d["carol_addr"], d["small"], "Too big", ("y" * 70 + "\n") * 100)
        stack.send(big, d["carol_addr"], [d["small"]])
        [dsn] = bounces(stack, d["carol"], 1)
    assert "552 5.3.4" in dsn and d["small"] in dsn
    assert tickets(d["config"]) == []
    stack.wait_queue_empty(timeout=30)


def test_unknown_address_is_refused_550_and_bounced(stack: MailStack, tmp_path: Path) -> None:
    d = desk(stack, tmp_path)
    nobody = f"{unique('nobody')}@{DESK}"
    with serving(stack, d["config"]):
        stack.send(customer_mail(d["carol_addr"], nobody, "Anyone?"), d["carol_addr"], [nobody])
        [dsn] = bounces(stack, d["carol"], 1)
    assert "550 5.1.1" in dsn and nobody in dsn
    assert tickets(d["config"]) == []


def test_mailtix_run_with_lmtp_listen_takes_mail(stack: MailStack, tmp_path: Path) -> None:
    d = desk(stack, tmp_path)
    [metrics_port] = free_ports(1)
    with d["config"].open("a") as config:
        config.write(f'\n[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n')
    with serving(stack, d["config"], "run") as proc:
        tagged = d["support"].replace("@", "+urgent@").upper()
        stack.send(customer_mail(d["carol_addr"], tagged, "Via the daemon"),
                   d["carol_addr"], [tagged])  # fmt: skip
        wait_until("the ticket", lambda: len(tickets(d["config"])) == 1)
        stack.wait_for_messages(d["carol"], count=1, timeout=30)  # its ack went out
        status = json.loads(mailtix(d["config"], "status", "--json", check=False).stdout)
        [mailbox] = status["mailboxes"]
        assert mailbox["healthy"] and mailbox["last_poll"] is None  # delivered, never polled
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        scraped = urllib.request.urlopen(url, timeout=10).read().decode()
        assert 'mailtix_mails_in_total{mailbox="support",outcome="ticket"} 1.0' in scraped
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    log = (tmp_path / "mailtix.log").read_text()
    assert f"mailtix running: 1 mailbox(es); LMTP on port {port_of(stack)}" in log
    [only] = tickets(d["config"])
    assert only["subject"] == "Via the daemon"
