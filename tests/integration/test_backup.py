"""``mailtix backup FILE`` while ``mailtix run`` turns a stream of mail into tickets: every copy
opens on its own, passes SQLite's integrity check and holds every ticket committed before the
backup began; a transaction still open during the backup is not in it. PostgreSQL: one line
naming pg_dump, exit 2."""

from __future__ import annotations

import mailbox
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support.config import small_config
from tests.support.live import customer_mail

SUPPORT = "support@acme.test"


def mailtix(config: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailtix", "--config", str(config), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def ticket_ids(store: Path) -> set[int]:
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return {row[0] for row in db.execute("SELECT id FROM ticket")}
    finally:
        db.close()


def tickets_so_far(store: Path) -> set[int]:
    """The tickets, once the daemon has made the store and its schema."""
    try:
        return ticket_ids(store) if store.is_file() else set()
    except sqlite3.OperationalError:  # no such table yet
        return set()


def wait_for(condition: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_backups_while_the_daemon_writes_hold_every_committed_ticket(tmp_path: Path) -> None:
    config = small_config(tmp_path, address=SUPPORT, mailbox="poll_interval = 1")
    store, inbox = tmp_path / "mailtix.db", mailbox.Maildir(tmp_path / "inbox", create=True)
    stop = threading.Event()

    def customers_write() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            inbox.add(customer_mail(f"c{n}@customer.test", SUPPORT, f"Problem {n}").as_bytes())
            time.sleep(0.02)

    daemon = subprocess.Popen(
        [sys.executable, "-m", "mailtix", "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    writer = threading.Thread(target=customers_write)
    writer.start()
    try:
        wait_for(lambda: len(tickets_so_far(store)) >= 5)
        copies = []
        for n in range(3):
            before = ticket_ids(store)
            started = time.perf_counter()
            proc = mailtix(config, "backup", tmp_path / f"copy{n}.db")
            took = time.perf_counter() - started
            after = ticket_ids(store)
            assert proc.returncode == 0, proc.stderr
            copies.append((before, ticket_ids(tmp_path / f"copy{n}.db"), after, took))
            time.sleep(0.7)
    finally:
        stop.set()
        writer.join()
        daemon.send_signal(signal.SIGTERM)
        _, errors = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, errors.decode()
    for before, copied, after, _ in copies:
        assert before <= copied <= after
    assert len(copies[-1][1]) > len(copies[0][0])  # the daemon did write meanwhile
    for n in range(3):
        copy = tmp_path / f"copy{n}.db"
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert not Path(f"{copy}-wal").exists()  # one file, complete on its own
    print(f"\nbackup: {[len(c) for _, c, _, _ in copies]} tickets copied, "
          f"{max(t for *_, t in copies):.2f} s the slowest (command start included)")  # fmt: skip


def test_a_write_in_progress_neither_blocks_the_backup_nor_gets_into_it(tmp_path: Path) -> None:
    config = small_config(tmp_path, address=SUPPORT, mailbox="poll_interval = 1")
    inbox = mailbox.Maildir(tmp_path / "inbox", create=True)
    inbox.add(customer_mail("carol@customer.test", SUPPORT, "Printer").as_bytes())
    assert mailtix(config, "poll", "--once").returncode == 0
    writer = sqlite3.connect(tmp_path / "mailtix.db", isolation_level=None, timeout=30)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE ticket SET subject = 'not committed'")
        proc = mailtix(config, "backup", tmp_path / "copy.db")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert proc.returncode == 0, proc.stderr
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("SELECT subject FROM ticket").fetchall() == [("Printer",)]
    copy.close()
    again = mailtix(config, "backup", tmp_path / "copy.db")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_postgresql_is_pointed_to_pg_dump(tmp_path: Path) -> None:
    postgres = 'url = "postgresql://mailtix@127.0.0.1:1/mailtix"'
    config = small_config(tmp_path, address=SUPPORT, mailbox="poll_interval = 1", store=postgres)
    proc = mailtix(config, "backup", tmp_path / "copy.db")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "pg_dump" in proc.stderr
    assert not (tmp_path / "copy.db").exists()
