"""Sent marks on SQLite go through a journal file: safe from a process crash at once, written to
the store in bulk, and applied by the next drain when their process died. Plus the sender
thread that drains the outbox beside the poller (into a Maildir here)."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from peewee import Database
from support.config import small_config

from mailtix.config.model import SmtpConfig
from mailtix.outbound import sent_marks
from mailtix.outbound.sender_process import SenderProcess
from mailtix.outbound.sender_thread import SenderThread
from mailtix.outbound.sent_marks import JournalMarks, apply_journal, journal_stem, recover_journals
from mailtix.store.db import open_store
from mailtix.store.models import OutboxItem

NOW = datetime(2026, 11, 23, 10, 0, 0)
RAW = b"From: support@example.com\r\nTo: carol@example.org\r\nSubject: hi\r\n\r\nbody\r\n"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    store = open_store(f"sqlite:///{tmp_path / 'mailtix.db'}")
    yield store
    store.close()


def row(status: str = "sending", n: int = 0) -> OutboxItem:
    return OutboxItem.create(
        kind="acknowledgement", envelope_from="support@example.com",
        recipients=[f"c{n}@example.org"], recipient_key=f"c{n}@example.org",
        message_id=f"<m{n}@example.com>", rfc822=RAW, status=status, claimed_by="host:1",
        next_attempt_at=NOW, created_at=NOW,
    )  # fmt: skip


def status(item: OutboxItem) -> tuple[str, int, str]:
    fresh = OutboxItem.get_by_id(item.id)
    return fresh.status, fresh.attempts, fresh.claimed_by


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


def test_marks_reach_the_store_in_bulk_and_the_journal_goes_away(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sent_marks, "FLUSH_EVERY", 3)
    items = [row(n=n) for n in range(4)]
    marks = JournalMarks(str(journal_stem()))
    for item in items[:2]:
        marks.mark(item, NOW)
    assert Path(marks.path).read_text().count("\n") == 2  # on disk (the kernel's) at once
    assert status(items[0])[0] == "sending"  # not yet in the store
    marks.mark(items[2], NOW)  # the third mark flushes
    assert [status(i)[0] for i in items] == ["sent", "sent", "sent", "sending"]
    assert Path(marks.path).read_text() == ""
    marks.mark(items[3], NOW)
    marks.close()
    assert status(items[3]) == ("sent", 1, "")
    assert not Path(marks.path).exists()


def test_a_dead_drains_journal_is_applied_once_before_its_rows_are_claimed(db: Database) -> None:
    sent, torn, other = row(n=1), row(n=2), row("sent", n=3)
    stem = journal_stem()
    journal = Path(f"{stem}.{dead_pid()}.1")
    journal.write_text(
        f"{sent.id} {NOW.isoformat()}\n{other.id} {NOW.isoformat()}\n{torn.id} 2026-1"
    )  # the last line was torn by the crash: that row will be sent again (once)
    recover_journals()
    assert status(sent) == ("sent", 1, "")
    assert status(other) == ("sent", 0, "host:1")  # already sent: untouched, not counted again
    assert status(torn)[0] == "sending"
    assert not journal.exists()


def test_journals_of_running_drains_are_left_alone(db: Database) -> None:
    item = row()
    stem = journal_stem()
    alive = Path(f"{stem}.{os.getppid()}.1")  # our parent runs: its drain may be writing
    alive.write_text(f"{item.id} {NOW.isoformat()}\n")
    mine = JournalMarks(str(stem))  # this process, open: being written right now
    mine.mark(item, NOW)
    recover_journals()
    assert status(item)[0] == "sending" and alive.exists() and Path(mine.path).exists()
    mine.close()
    assert status(item)[0] == "sent"
    alive.unlink()


def test_a_drain_that_sent_nothing_leaves_no_file(db: Database) -> None:
    marks = JournalMarks(str(journal_stem()))
    marks.close()
    assert not Path(marks.path).exists()


def test_applying_a_journal_twice_changes_nothing_more(db: Database, tmp_path: Path) -> None:
    item = row()
    journal = tmp_path / "journal"
    journal.write_text(f"{item.id} {NOW.isoformat()}\n")
    assert apply_journal(str(journal)) == 1
    apply_journal(str(journal))
    assert status(item) == ("sent", 1, "")


def test_sender_thread_sends_what_is_due_when_kicked_and_on_finish(
    db: Database, tmp_path: Path
) -> None:
    out = tmp_path / "sent"
    smtp = SmtpConfig(maildir=out, connections=2)
    for n in range(3):
        row("pending", n)
    sender = SenderThread(smtp, lambda: NOW).start()
    for n in range(3, 5):
        row("pending", n)
    sender.kick()
    counts = sender.finish()
    assert counts["sent"] == 5
    assert len(list(mailbox.Maildir(out, create=False))) == 5
    assert {i.status for i in OutboxItem.select()} == {"sent"}
    assert not list(tmp_path.glob("mailtix.db-sent.*"))  # every journal applied and removed


def sender_config(tmp_path: Path) -> Path:
    """A config whose SMTP is the Maildir ``sent``, on this test's store."""
    store, sent = tmp_path / "mailtix.db", tmp_path / "sent"
    return small_config(tmp_path, store=f'url = "sqlite:///{store}"', smtp=f'maildir = "{sent}"')


def test_sender_process_sends_from_a_child_and_reports_its_counts(
    db: Database, tmp_path: Path
) -> None:
    """poll --once's sender: a child process on the same store (here a Maildir for SMTP)."""
    config = sender_config(tmp_path)
    for n in range(3):
        row("pending", n)
    child = SenderProcess(config).start()
    row("pending", 3)
    child.kick()
    counts = child.finish()
    assert child.error is None and counts["sent"] == 4
    assert len(list(mailbox.Maildir(tmp_path / "sent", create=False))) == 4
    assert {i.status for i in OutboxItem.select()} == {"sent"}


def test_a_sender_process_that_dies_is_reported(db: Database, tmp_path: Path) -> None:
    child = SenderProcess(tmp_path / "missing.toml").start()  # it cannot even read its config
    counts = child.finish()
    assert not counts and child.error is not None and "exited with 2" in child.error


def test_a_sender_process_that_died_is_started_again_by_the_next_kick(
    db: Database, tmp_path: Path
) -> None:
    """mailtix run keeps one sender process for its lifetime; if it dies, the next kick (a
    committed batch, a timed job) starts another, and what was due goes out."""
    import signal

    config = sender_config(tmp_path)
    child = SenderProcess(config, interval=60).start()
    first = child._proc
    assert first is not None
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    row("pending", 1)
    child.kick()
    assert child._proc is not first
    counts = child.finish()
    assert child.error is None and counts["sent"] == 1
    assert len(list(mailbox.Maildir(tmp_path / "sent", create=False))) == 1


def test_the_sender_process_leaves_interrupts_to_its_parent(db: Database, tmp_path: Path) -> None:
    """Ctrl-C or a service manager's SIGTERM reach the whole process group: the sender goes on
    until its parent, after its own clean stop, closes its stdin."""
    import signal
    import time

    config = sender_config(tmp_path)
    first = row("pending", 0)
    child = SenderProcess(config, interval=60).start()
    assert child._proc is not None
    deadline = time.monotonic() + 30
    while status(first)[0] != "sent":  # its first round is done: it is past its start-up
        assert time.monotonic() < deadline, "the sender process never sent the first row"
        time.sleep(0.05)
    for signum in (signal.SIGINT, signal.SIGTERM):
        os.kill(child._proc.pid, signum)
    time.sleep(0.3)
    assert child._proc.poll() is None  # still running
    row("pending", 1)
    child.kick()
    assert child.finish()["sent"] == 2 and child.error is None


def test_a_busy_store_is_tried_again_every_few_marks_not_at_every_one(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sent_marks, "FLUSH_EVERY", 3)
    monkeypatch.setattr(sent_marks, "RETRY_FLUSH_AFTER", 2)
    tries: list[int] = []
    busy = [True]

    def write_if_free(work: Any) -> bool:
        tries.append(len(tries))
        if busy[0]:
            return False
        work()
        return True

    monkeypatch.setattr(sent_marks, "write_if_free", write_if_free)
    items = [row(n=n) for n in range(9)]
    marks = JournalMarks(str(journal_stem()))
    for item in items[:7]:
        marks.mark(item, NOW)
    assert len(tries) == 3  # at the 3rd, 5th and 7th mark
    busy[0] = False
    marks.mark(items[7], NOW)  # the 8th: not yet the turn of a try
    assert len(tries) == 3 and status(items[0])[0] == "sending"
    marks.mark(items[8], NOW)  # the 9th: tried, and the store is free now
    assert [status(i)[0] for i in items] == ["sent"] * 9
    marks.close()


def test_naming_the_sender_loads_no_smtp_code_into_the_poller() -> None:
    """The poller names its sender's worker id for every mail it queues: that must not pull
    asyncio and aiosmtplib into the poller (they belong to the sender process)."""
    code = (
        "import sys; import mailtix.runtime.app\n"
        "from mailtix.outbound.sender_process import SenderProcess\n"
        "from mailtix.domain.workers import worker_of\n"
        "sender = SenderProcess(None)\n"
        "sender._proc = type('Proc', (), {'pid': 4242})()\n"
        "assert sender.worker == worker_of(4242), sender.worker\n"
        "print(sorted(m for m in ('aiosmtplib', 'mailtix.outbound.outbox') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
