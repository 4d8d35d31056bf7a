"""The outbox sends each mail through the account of the mailbox it is From (``[mailbox.smtp]``,
else ``[smtp]``), and an account's ``max_per_minute`` holds the rest back in the outbox: still
pending, no attempt counted, due when the minute has room; also across worker processes.
Accounts here write into Maildirs; tests/integration/test_smtp_accounts.py sends over Postfix."""

from __future__ import annotations

import mailbox
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from peewee import Database

from mailtix.config.load import load_config
from mailtix.config.model import SmtpConfig
from mailtix.outbound import outbox
from mailtix.outbound.accounts import Account, SendAccounts, send_accounts
from mailtix.store.db import open_store
from mailtix.store.models import OutboxItem

NOW = datetime(2026, 11, 23, 10, 0, 0)
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    store = open_store(f"sqlite:///{tmp_path / 'mailtix.db'}")
    yield store
    store.close()


def queue(sender: str, n: int) -> OutboxItem:
    raw = f"From: {sender}\r\nTo: c{n}@example.org\r\nSubject: {n}\r\n\r\nbody\r\n".encode()
    return OutboxItem.create(
        kind="acknowledgement", envelope_from=sender, recipients=[f"c{n}@example.org"],
        recipient_key=f"c{n}@example.org", message_id=f"<m{n}@example.com>", rfc822=raw,
        next_attempt_at=NOW, created_at=NOW,
    )  # fmt: skip


def delivered(directory: Path) -> list[str]:
    if not directory.exists():
        return []
    return sorted(str(m["Subject"]) for m in mailbox.Maildir(directory, create=False))


def accounts(tmp_path: Path, limit: int = 0) -> SendAccounts:
    own = SmtpConfig(maildir=tmp_path / "sales", max_per_minute=limit)
    sales = Account("mailbox sales smtp", own)
    return SendAccounts(Account("smtp", SmtpConfig(maildir=tmp_path / "shared")),
                        {"sales@example.com": sales})  # fmt: skip


def test_each_mail_leaves_through_the_account_of_the_mailbox_it_is_from(
    db: Database, tmp_path: Path
) -> None:
    queue("support@example.com", 1)
    queue("Sales@Example.com", 2)  # addresses compare case-insensitively
    queue("sales@example.com", 3)
    queue("digest@elsewhere.example", 4)  # no mailbox of its own: [smtp]
    counts = outbox.drain(accounts(tmp_path), lambda: NOW)
    assert counts == {"sent": 4}
    assert delivered(tmp_path / "sales") == ["2", "3"]
    assert delivered(tmp_path / "shared") == ["1", "4"]


def test_a_row_without_a_message_fails_instead_of_going_out_blank(
    db: Database, tmp_path: Path
) -> None:
    """A letter made ahead is filled in before its group commits; should a row ever be
    committed without one, it is a failure on the ticket, not an empty mail to a customer."""
    queue("support@example.com", 1)
    empty = queue("support@example.com", 2)
    OutboxItem.update(rfc822=b"").where(OutboxItem.id == empty.id).execute()
    counts = outbox.drain(accounts(tmp_path), lambda: NOW)
    assert counts == {"sent": 1, "failed": 1}
    assert delivered(tmp_path / "shared") == ["1"]
    failed = OutboxItem.get_by_id(empty.id)
    assert failed.status == "failed" and failed.last_error == outbox.EMPTY


def test_max_per_minute_holds_the_rest_pending_until_the_minute_has_room(
    db: Database, tmp_path: Path
) -> None:
    rows = [queue("sales@example.com", n) for n in range(12)]
    paced = accounts(tmp_path, limit=5)
    rounds = []
    for seconds in (0, 30, 61, 90, 122):
        at = NOW + timedelta(seconds=seconds)
        rounds.append((seconds, dict(outbox.drain(paced, lambda at=at: at))))
        if seconds == 0:
            waiting = [OutboxItem.get_by_id(r.id) for r in rows[5:]]
            assert {(w.status, w.attempts, w.claimed_by, w.last_error) for w in waiting} == {
                ("pending", 0, "", "")
            }
            assert {w.next_attempt_at for w in waiting} == {NOW + timedelta(seconds=61)}
    assert rounds == [
        (0, {"sent": 5, "waiting": 7}),
        (30, {}),  # nothing due: no store write, no reservation
        (61, {"sent": 5, "waiting": 2}),
        (90, {}),
        (122, {"sent": 2}),
    ]
    assert len(delivered(tmp_path / "sales")) == 12
    assert {r.status for r in OutboxItem.select()} == {"sent"}
    assert {r.attempts for r in OutboxItem.select()} == {1}  # the one that sent it
    print(f"\npaced at 5/min, 12 mails: {rounds}")


def test_a_paced_account_does_not_hold_back_the_others(db: Database, tmp_path: Path) -> None:
    for n in range(8):
        queue("sales@example.com", n)
    for n in range(8, 12):
        queue("support@example.com", n)
    counts = outbox.drain(accounts(tmp_path, limit=3), lambda: NOW)
    assert counts == {"sent": 7, "waiting": 5}
    assert len(delivered(tmp_path / "shared")) == 4
    assert len(delivered(tmp_path / "sales")) == 3


def test_accounts_come_from_the_config_and_equal_ones_are_one(tmp_path: Path) -> None:
    path = tmp_path / "mailtix.toml"
    path.write_text(
        '[smtp]\nmaildir = "out"\n'
        '[[mailbox]]\nname = "a"\naddress = "a@example.com"\nmaildir = "in-a"\n'
        "[mailbox.smtp]\nmax_per_minute = 30\n"
        '[[mailbox]]\nname = "b"\naddress = "b@example.com"\nmaildir = "in-b"\n'
        "[mailbox.smtp]\nmax_per_minute = 30\n"
        '[[mailbox]]\nname = "c"\naddress = "c@example.com"\nmaildir = "in-c"\n'
    )
    found = send_accounts(load_config(path, {}))
    assert [a.name for a in found.distinct()] == ["smtp", "mailbox a smtp"]
    assert found.for_sender("B@example.com").name == "mailbox a smtp"
    assert found.for_sender("c@example.com").name == "smtp"
    assert found.default.pace_key == found.for_sender("a@example.com").pace_key  # one Maildir


DRAIN = """
import sys, time
from datetime import datetime
from pathlib import Path
from mailtix.config.model import SmtpConfig
from mailtix.outbound import outbox
from mailtix.store.db import open_store
url, maildir, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
db = open_store(url, upgrade=False)
while time.time() < start:
    time.sleep(0.001)
paced = SmtpConfig(maildir=Path(maildir), max_per_minute=5)
print(outbox.drain(paced, lambda: datetime(2026, 11, 23, 10, 0, 0))["sent"])
"""


def workers_share_the_limit(url: str, tmp_path: Path, store: str) -> None:
    """Three worker processes drain 60 mails for one account at 5/min at the same moment."""
    for n in range(3 * outbox.CLAIM_BATCH):  # each worker claims a batch of its own
        queue("sales@example.com", n)
    start = time.time() + 1.5
    argv = [sys.executable, "-c", DRAIN, url, str(tmp_path / "sales"), str(start)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=REPO) for _ in "abc"]
    sent = [int(p.communicate(timeout=60)[0]) for p in procs]
    print(f"\n{store}: 3 workers draining 60 mails at 5/min at the same moment: sent {sent}")
    assert sum(sent) == 5
    assert len(delivered(tmp_path / "sales")) == 5
    statuses = [r.status for r in OutboxItem.select()]
    assert statuses.count("sent") == 5 and statuses.count("pending") == 55


def test_workers_in_separate_processes_share_the_limit(db: Database, tmp_path: Path) -> None:
    workers_share_the_limit(f"sqlite:///{tmp_path / 'mailtix.db'}", tmp_path, "SQLite")


@pytest.mark.postgres
def test_workers_share_the_limit_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    store = open_store(postgres_url)
    try:
        OutboxItem.delete().execute()  # the session's database: start from an empty outbox
        workers_share_the_limit(postgres_url, tmp_path, "PostgreSQL")
    finally:
        OutboxItem.delete().execute()
        store.close()


def test_sends_reserved_but_not_made_soon_are_not_carried_into_the_next_minute(
    db: Database, tmp_path: Path
) -> None:
    """A slow server: sends reserved at one moment and made more than RESERVATION_TTL later
    could land beside another worker's in a later minute; they are given up (still counted)."""
    rows = [queue("sales@example.com", n) for n in range(8)]
    now = [NOW]
    paced = accounts(tmp_path, limit=5).for_sender("sales@example.com")
    feed = outbox._Feed(lambda: now[0], outbox.SenderState.open(), SendAccounts(paced))
    feed.queues[paced.name] = deque(outbox.claim(NOW))
    assert feed.next(paced) is not None  # five reserved, one used
    now[0] = NOW + outbox.RESERVATION_TTL + timedelta(seconds=1)
    assert feed.next(paced) is None  # the other four were given up; the minute is full
    assert feed.full_until[paced.name] == NOW + timedelta(seconds=61)
    assert {OutboxItem.get_by_id(r.id).status for r in rows[1:]} == {"pending"}
    feed.state.close()


def test_an_account_whose_server_is_down_defers_only_its_own_mail(
    db: Database, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = SmtpConfig(host="127.0.0.1", port=port, security="none", timeout=5.0)
    routes = SendAccounts(
        Account("smtp", SmtpConfig(maildir=tmp_path / "shared")),
        {"sales@example.com": Account("mailbox sales smtp", down)},
    )
    sales = [queue("sales@example.com", n) for n in range(3)]
    for n in range(3, 6):
        queue("support@example.com", n)
    counts = outbox.drain(routes, lambda: NOW)
    assert counts == {"sent": 3, "deferred": 3}
    assert len(delivered(tmp_path / "shared")) == 3
    retried = [OutboxItem.get_by_id(r.id) for r in sales]
    assert {(r.status, r.attempts) for r in retried} == {("pending", 1)}
    assert all(
        r.last_error.startswith("mailbox sales smtp: cannot connect to 127.0.0.1:") for r in retried
    )


def test_a_long_account_is_paced_under_a_key_that_fits_the_store() -> None:
    long = Account("smtp", SmtpConfig(host="smtp." + "x" * 240 + ".example", username="u" * 200))
    assert long.pace_key.startswith("sha256:") and len(long.pace_key) == 71
    assert long.pace_key == Account("other", long.smtp).pace_key  # the same for every worker
    assert Account("smtp", SmtpConfig(host="smtp.Example.com")).pace_key == "@smtp.example.com:587"
