"""Per-mailbox SMTP accounts and max_per_minute on the real Postfix, which here offers AUTH
through Dovecot SASL (``MailStack(smtp_auth=True)``): each acknowledgement leaves through the
account of the mailbox it is From (the login Postfix logged and wrote into Received), a wrong
password of one account holds only that mailbox's mail, and a paced account sends 5 of 12 in
the first minute and the rest in the next windows (``jobs run --at``), none lost or failed."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.live import customer_mail, mailtix, outbox_items, parse, unique, write_config
from support.mailstack import MailStack, MailStackUnavailable

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[MailStack]:
    """A stack of its own: the session's Postfix offers no AUTH (its default stays so)."""
    directory = tempfile.mkdtemp(prefix="mailtix-stack-")
    found = MailStack(directory, smtp_auth=True)
    try:
        found.start()
    except MailStackUnavailable as error:
        shutil.rmtree(directory, ignore_errors=True)
        pytest.skip(f"mail stack with SMTP AUTH unavailable: {error}")
    try:
        yield found
    finally:
        found.stop()
        shutil.rmtree(directory, ignore_errors=True)


def desk(stack: MailStack, tmp_path: Path, own: str) -> dict[str, Any]:
    """Mailboxes support (sends through [smtp], signed in as itself) and sales (``own``, its
    [mailbox.smtp] body; the last mailbox, so ``extra`` can hold its table)."""
    support, sales = unique("support"), unique("sales")
    config = write_config(
        tmp_path,
        stack,
        [{"name": "support", "user": support}, {"name": "sales", "user": sales}],
        extra="[mailbox.smtp]\n" + own.format(sales=sales),
        departments='[[department]]\nname = "general"\n',  # no agents: acknowledgements only
    )
    text = config.read_text().replace(
        "[smtp]\n", f'[smtp]\nusername = "{support}"\npassword = "secret"\n', 1
    )
    config.write_text(text)
    return {"config": config, "support": support, "sales": sales}


def customers(stack: MailStack, count: int) -> list[str]:
    return [stack.fresh_mailbox("carol", stack.customer_domain).login for _ in range(count)]


def write_in(stack: MailStack, customer: str, mailbox: str, subject: str) -> None:
    sender, to = f"{customer}@{stack.customer_domain}", f"{mailbox}@{stack.support_domain}"
    stack.send(customer_mail(sender, to, subject), sender, [to])


def authenticated_sender(raw: bytes) -> str:
    """The SASL login Postfix wrote into its Received header."""
    received = " ".join(str(h) for h in parse(raw).get_all("Received", []))
    found = re.search(r"\(Authenticated sender: ([^)]+)\)", received)
    return found[1] if found else ""


def test_each_mailbox_sends_through_its_own_account(stack: MailStack, tmp_path: Path) -> None:
    d = desk(stack, tmp_path, 'username = "{sales}"\npassword = "secret"\n')
    carol, dave = customers(stack, 2)
    write_in(stack, carol, d["support"], "Printer jams")
    write_in(stack, dave, d["sales"], "A quote please")
    stack.wait_for_messages(d["support"])
    stack.wait_for_messages(d["sales"])
    mailtix(d["config"], "poll", "--once")

    [to_carol] = stack.wait_for_messages(carol)
    [to_dave] = stack.wait_for_messages(dave)
    assert parse(to_carol)["From"].addresses[0].username == d["support"]
    assert authenticated_sender(to_carol) == d["support"]
    assert parse(to_dave)["From"].addresses[0].username == d["sales"]
    assert authenticated_sender(to_dave) == d["sales"]
    log = (stack.log_dir / "postfix.log").read_text()
    assert f"sasl_username={d['sales']}" in log and f"sasl_username={d['support']}" in log


def test_a_refused_login_holds_only_that_accounts_mail(stack: MailStack, tmp_path: Path) -> None:
    d = desk(stack, tmp_path, 'username = "{sales}"\npassword = "not-the-password"\n')
    carol, dave = customers(stack, 2)
    write_in(stack, carol, d["support"], "Printer jams")
    write_in(stack, dave, d["sales"], "A quote please")
    stack.wait_for_messages(d["support"])
    stack.wait_for_messages(d["sales"])
    poll = mailtix(d["config"], "poll", "--once")

    assert len(stack.wait_for_messages(carol)) == 1  # [smtp]'s account went on
    [held] = outbox_items(d["config"])
    assert held["recipients"] == [f"{dave}@{stack.customer_domain}"]
    assert held["last_error"].startswith("mailbox sales smtp: login failed: 535"), held
    assert "not-the-password" not in poll.stdout + poll.stderr + held["last_error"]
    assert stack.fetch(dave) == []


def test_max_per_minute_sends_five_a_minute_and_loses_none(
    stack: MailStack, tmp_path: Path
) -> None:
    d = desk(stack, tmp_path, 'username = "{sales}"\npassword = "secret"\nmax_per_minute = 5\n')
    people = customers(stack, 12)  # 12 customers: the per-address reply budget holds none
    for n, person in enumerate(people):
        write_in(stack, person, d["sales"], f"Question {n}")
    stack.wait_for_messages(d["sales"], count=12)
    start = datetime.now(UTC)
    first = mailtix(d["config"], "poll", "--once").stdout
    assert "outbox: 5 sent, 7 waiting" in first, first
    waiting = outbox_items(d["config"])
    assert len(waiting) == 7 and {i["status"] for i in waiting} == {"pending"}, waiting
    assert {i["attempts"] for i in waiting} == {0}

    windows = [5]
    while waiting and len(windows) < 4:  # each next window: when the outbox says it is due
        [due] = {datetime.fromisoformat(i["next_attempt_at"]) for i in waiting}
        early = (due - timedelta(seconds=1)).isoformat()
        before = mailtix(d["config"], "jobs", "run", "--at", early).stdout
        assert "outbox: nothing to send" in before, before  # a second early: still waiting
        out = mailtix(d["config"], "jobs", "run", "--at", due.isoformat()).stdout
        sent = re.search(r"outbox: (\d+) sent", out)
        assert sent is not None, out
        windows.append(int(sent[1]))
        waiting = outbox_items(d["config"])
    assert windows == [5, 5, 2]
    for person in people:
        assert len(stack.wait_for_messages(person)) == 1
        assert authenticated_sender(stack.fetch(person)[0]) == d["sales"]
    assert outbox_items(d["config"]) == []  # none left, none failed
    minutes = (due - start).total_seconds() / 60
    print(f"\nmax_per_minute = 5, 12 mails over Postfix: {windows} mails per minute-window; "
          f"the last window {minutes:.1f} min (simulated) after the poll")  # fmt: skip


def test_check_connect_signs_in_to_each_account_once(stack: MailStack, tmp_path: Path) -> None:
    d = desk(stack, tmp_path, 'username = "{sales}"\npassword = "secret"\n')
    out = mailtix(d["config"], "check", "--connect").stdout
    port = stack.smtp_port
    assert out.count(f"smtp {stack.host}:{port}") == 2, out
    assert f"smtp {stack.host}:{port} as {d['sales']} (mailbox sales smtp)" in out

    own = f'[mailbox.smtp]\nusername = "{d["sales"]}"\npassword = '
    wrong = d["config"].read_text().replace(own + '"secret"', own + '"not-the-password"')
    d["config"].write_text(wrong)
    failed = mailtix(d["config"], "check", "--connect", check=False)
    assert failed.returncode == 2
    [line] = failed.stderr.strip().splitlines()
    where = f"smtp {stack.host}:{port} as {d['sales']} (mailbox sales smtp)"
    assert line.startswith(f"connect: {where}: ")
    assert "535" in line and "not-the-password" not in line


def test_check_connect_signs_in_once_for_accounts_that_differ_only_in_pace(
    stack: MailStack, tmp_path: Path
) -> None:
    d = desk(stack, tmp_path, "max_per_minute = 5\n")  # [smtp]'s sign-in, another pace
    out = mailtix(d["config"], "check", "--connect").stdout
    assert out.count(f"smtp {stack.host}:{stack.smtp_port}") == 1, out
