"""The never-lose / never-double guarantees of the core loop, on the real Dovecot: a crash between
commit and move, a UIDVALIDITY change, a server without MOVE, several mailboxes (one failing)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from support.live import (
    customer_mail,
    mailtix,
    outbox_items,
    ticket,
    tickets,
    unique,
    write_config,
)

from mailtix.desks.outcome import Source
from mailtix.inbound.imap_source import ImapSource
from mailtix.runtime.app import App
from mailtix.runtime.poller import poll_mailbox

pytestmark = pytest.mark.integration


@contextmanager
def opened(config: Path) -> Iterator[App]:
    app = App.open(config)
    try:
        yield app
    finally:
        app.db.close()


def only_message(stack: Any, user: str, folder: str = "INBOX") -> tuple[int, int, bytes]:
    """UIDVALIDITY, UID and bytes of the one message in ``folder``."""
    with stack.imap(user) as client:
        info = client.select_folder(folder, readonly=True)
        [uid] = client.search("ALL")
        raw = client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
        return int(info[b"UIDVALIDITY"]), int(uid), bytes(raw)


def assert_acks_stay(stack: Any, user: str, count: int) -> None:
    """``count`` acknowledgements arrived, and no more come once Postfix is idle."""
    stack.wait_for_messages(user, count=count)
    stack.wait_queue_empty()
    assert len(stack.folder_uids(user)) == count


def send(stack: Any, sender: str, to: str, subject: str) -> None:
    stack.send(customer_mail(sender, to, subject), sender, [to])


@pytest.fixture
def people(mailstack: Any) -> dict[str, str]:
    support, carol = unique("support"), unique("carol")
    mailstack.add_user(carol)
    return {
        "support": support,
        "carol": carol,
        "support_addr": f"{support}@example.test",
        "carol_addr": f"{carol}@customer.test",
    }


def test_crash_after_commit_before_move_only_redoes_the_move(
    mailstack: Any, tmp_path: Path, people: dict[str, str]
) -> None:
    config = write_config(tmp_path, mailstack, [{"name": "support", "user": people["support"]}])
    msg = customer_mail(people["carol_addr"], people["support_addr"], "Crash window")
    mailstack.send(msg, people["carol_addr"], [people["support_addr"]])
    mailstack.wait_for_messages(people["support"], count=1)
    uidvalidity, uid, raw = only_message(mailstack, people["support"])

    with opened(config) as app:  # the pipeline commits; the process "dies" before the move
        outcome = app.pipeline.process(raw, Source("support", uidvalidity, uid))
    assert outcome.kind == "ticket"
    assert mailstack.folder_uids(people["support"]) == [uid]

    out = mailtix(config, "poll", "--once").stdout
    assert "nothing new; 1 moved" in out, out
    [only] = tickets(config)
    assert only["ref"] == outcome.ticket_ref
    acks = [i for i in outbox_items(config, include_sent=True) if i["kind"] == "acknowledgement"]
    assert [(a["ticket"], a["status"]) for a in acks] == [(only["ref"], "sent")]
    assert mailstack.folder_uids(people["support"]) == []
    assert len(mailstack.folder_uids(people["support"], "Processed")) == 1
    assert_acks_stay(mailstack, people["carol"], 1)


def test_uidvalidity_change_does_not_reimport(
    mailstack: Any, tmp_path: Path, people: dict[str, str]
) -> None:
    support = people["support"]
    config = write_config(
        tmp_path, mailstack, [{"name": "support", "user": support, "folder": "Intake"}]
    )
    raw = customer_mail(people["carol_addr"], people["support_addr"], "Renumbered").as_bytes()
    mailstack.append(support, "Intake", raw)
    mailtix(config, "poll", "--once")
    assert len(tickets(config)) == 1
    assert mailstack.folder_uids(support, "Intake") == []
    assert_acks_stay(mailstack, people["carol"], 1)

    with mailstack.imap(support) as client:
        before = int(client.folder_status("Intake", ["UIDVALIDITY"])[b"UIDVALIDITY"])
        client.delete_folder("Intake")
        client.create_folder("Intake")
        after = int(client.folder_status("Intake", ["UIDVALIDITY"])[b"UIDVALIDITY"])
    assert after != before
    mailstack.append(support, "Intake", raw)  # a restored backup: the same bytes, new UIDs

    out = mailtix(config, "poll", "--once").stdout
    assert "1 duplicate" in out, out
    assert len(tickets(config)) == 1
    assert mailstack.folder_uids(support, "Intake") == []
    assert len(mailstack.folder_uids(support, "Processed")) == 2
    assert_acks_stay(mailstack, people["carol"], 1)


class NoMoveSource(ImapSource):
    """A server without RFC 6851 MOVE, as far as mailtix can tell."""

    @property
    def has_move(self) -> bool:
        return False


def test_without_move_copy_delete_expunge(
    mailstack: Any, tmp_path: Path, people: dict[str, str]
) -> None:
    support = people["support"]
    config = write_config(tmp_path, mailstack, [{"name": "support", "user": support}])
    msg = customer_mail(people["carol_addr"], people["support_addr"], "No MOVE here")
    mailstack.send(msg, people["carol_addr"], [people["support_addr"]])
    mailstack.wait_for_messages(support, count=1)

    with opened(config) as app, NoMoveSource(app.mailbox("support")) as source:
        assert source.imap.has_capability("MOVE")  # Dovecot has it; the subclass hides it
        result = poll_mailbox(app.mailbox("support"), source, lambda: app.pipeline)
    assert dict(result.outcomes) == {"ticket": 1} and result.moved == 1

    assert mailstack.folder_uids(support) == []
    with mailstack.imap(support) as client:
        client.select_folder("INBOX", readonly=True)
        assert client.search("ALL") == []  # expunged, not merely flagged \Deleted
        client.select_folder("Processed", readonly=True)
        [uid] = client.search("ALL")
        assert b"\\Deleted" not in client.get_flags([uid])[uid]
    [only] = tickets(config)
    assert only["subject"] == "No MOVE here"


def test_several_mailboxes_each_with_its_department(
    mailstack: Any, tmp_path: Path, people: dict[str, str]
) -> None:
    support, billing = people["support"], unique("billing")
    departments = (
        '[[department]]\nname = "general"\nagents = ["alice@example.test"]\n'
        '[[department]]\nname = "billing"\nagents = ["bob@example.test"]\n'
    )
    config = write_config(
        tmp_path,
        mailstack,
        [
            {"name": "support", "user": support},
            {"name": "billing", "user": billing, "department": "billing"},
        ],
        departments=departments,
    )
    carol = people["carol_addr"]
    send(mailstack, carol, f"{support}@example.test", "Help")
    send(mailstack, carol, f"{billing}@example.test", "Invoice")
    mailstack.wait_for_messages(support, count=1)
    mailstack.wait_for_messages(billing, count=1)

    mailtix(config, "poll", "--once")
    by_subject = {t["subject"]: t for t in tickets(config)}
    assert set(by_subject) == {"Help", "Invoice"}
    assert by_subject["Help"]["department"] == "general"
    assert by_subject["Invoice"]["department"] == "billing"
    for subject, mailbox in (("Help", "support"), ("Invoice", "billing")):
        events = ticket(config, by_subject[subject]["ref"])["events"]
        created = next(e for e in events if e["type"] == "created")
        assert f" via {mailbox};" in created["detail"], created
    for user in (support, billing):
        assert mailstack.folder_uids(user) == []
        assert len(mailstack.folder_uids(user, "Processed")) == 1
    assert_acks_stay(mailstack, people["carol"], 2)


def test_a_mailbox_with_a_wrong_password_does_not_stop_the_others(
    mailstack: Any, tmp_path: Path, people: dict[str, str]
) -> None:
    support, billing = people["support"], unique("billing")
    # the failing mailbox comes first: the next login (support's) absorbs Dovecot's auth penalty
    # for 127.0.0.1 and resets it, so no later test pays for it
    config = write_config(
        tmp_path,
        mailstack,
        [
            {"name": "billing", "user": billing, "password": "wrong"},
            {"name": "support", "user": support},
        ],
    )
    carol = people["carol_addr"]
    send(mailstack, carol, f"{support}@example.test", "Still served")
    send(mailstack, carol, f"{billing}@example.test", "Locked out")
    mailstack.wait_for_messages(support, count=1)
    mailstack.wait_for_messages(billing, count=1)

    started = time.monotonic()
    proc = mailtix(config, "poll", "--once", check=False)
    print(f"\npoll with a failing login took {time.monotonic() - started:.2f} s")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "(billing)" in errors[0], proc.stderr
    assert proc.stderr.count("(billing)") == 1, proc.stderr  # said once
    assert "[AUTHENTICATIONFAILED]" in errors[0] and "b'" not in errors[0], errors[0]
    print(errors[0])

    [only] = tickets(config)
    assert only["subject"] == "Still served"
    assert mailstack.folder_uids(support) == []
    assert len(mailstack.folder_uids(billing)) == 1  # untouched, waiting for a fixed password
