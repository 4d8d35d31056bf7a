"""How the outbox records that the server took a row: the "sent" mark.

The mark must be safe from a process crash before the next row is handed over (the crash bound:
at most one acknowledgement repeated). On PostgreSQL each mark is its own relaxed commit. On
SQLite that commit would have to wait for the one write lock, which the poller holds for most of
the time it commits messages, so a sender running beside it spent its time queueing for it.
There each mark is instead appended to a journal file next to the database (one ``write``: the
kernel keeps it if the process dies) and the journal is written to the store every
``FLUSH_EVERY`` marks and when a drain ends, in one transaction, and then emptied; each time
only when the store can be written at once (the sender never queues behind the poller), else
later, and for good when the sender stops.

A journal left behind by a process that died is applied by the next drain on this machine before
it takes over that worker's claimed rows, so a mark is never lost with its process. Applying is
idempotent (only rows still "sending" change). Like the relaxed commit, the journal is not
synced: a power loss could cost a resent acknowledgement, never a mail.
"""

from __future__ import annotations

import glob
import itertools
import logging
import os
import threading
from datetime import datetime
from typing import Protocol

from mailtix.domain.workers import process_alive
from mailtix.store.db import sqlite_file, write_if_free
from mailtix.store.durability import relaxed_transaction
from mailtix.store.lookups import execute
from mailtix.store.models import database_proxy

log = logging.getLogger(__name__)

FLUSH_EVERY = 50
RETRY_FLUSH_AFTER = 10  # marks: when a flush found the store busy, the next try
_serial = itertools.count(1)
_open_journals: set[str] = set()  # journals of this process that a drain is writing right now
_open_lock = threading.Lock()

_APPLY = (
    "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, claimed_by = '', "
    "claimed_at = NULL, last_error = '' WHERE id = ? AND status = 'sending'"
)


class Marked(Protocol):
    """An outbox row being marked sent (only its id counts)."""

    @property
    def id(self) -> int: ...


class DirectMarks:
    """Each mark its own relaxed commit (PostgreSQL, or an in-memory SQLite database)."""

    def mark(self, item: Marked, now: datetime) -> None:
        with relaxed_transaction():
            _apply([(now, item.id)])

    def flush(self, *, wait: bool = True) -> bool:
        return True  # nothing kept back

    def close(self) -> None:
        pass


class JournalMarks:
    """Marks appended to a journal file of this process (made at the first mark), written to
    the store in bulk: every FLUSH_EVERY marks and when asked (``flush``), each time only if
    the store can be written at once (the poller may be committing: then later), and for good
    at ``close``. One may serve many drains (a sender keeps one for its lifetime)."""

    def __init__(self, stem: str) -> None:
        self.path = f"{stem}.{os.getpid()}.{next(_serial)}"
        self._fd: int | None = None
        self._count = 0
        self._flush_at = FLUSH_EVERY  # the count at which the next flush is tried

    def mark(self, item: Marked, now: datetime) -> None:
        if self._fd is None:
            with _open_lock:
                _open_journals.add(self.path)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(self._fd, f"{item.id} {now.isoformat()}\n".encode())
        self._count += 1
        if self._count >= self._flush_at and not self.flush(wait=False):
            self._flush_at = self._count + RETRY_FLUSH_AFTER  # busy: not at every mark

    def flush(self, *, wait: bool = True) -> bool:
        """Write the marks to the store and empty the journal; without ``wait``, only if the
        store can be written at once (True when the journal is empty afterwards)."""
        if self._fd is None or self._count == 0:
            return True
        path = self.path
        if wait:
            apply_journal(path)
        elif not write_if_free(lambda: apply_journal(path)):
            return False
        os.ftruncate(self._fd, 0)
        self._count, self._flush_at = 0, FLUSH_EVERY
        return True

    def close(self) -> None:
        """Flush and remove the journal; if the store cannot be written, it stays for the next
        drain to apply."""
        if self._fd is None:
            return
        try:
            self.flush()
            os.unlink(self.path)
        finally:
            os.close(self._fd)
            self._fd = None
            with _open_lock:
                _open_journals.discard(self.path)


def marks_for_store() -> DirectMarks | JournalMarks:
    stem = journal_stem()
    return JournalMarks(stem) if stem is not None else DirectMarks()


def journal_stem() -> str | None:
    """Journal files are ``<database>-sent.<pid>.<n>``; None when marks go straight in."""
    path = sqlite_file(database_proxy.obj)
    return None if path is None else f"{path.resolve()}-sent"


def apply_journal(path: str) -> int:
    """Write the marks of one journal file to the store (one transaction); how many lines."""
    marks = []
    with open(path, "rb") as journal:
        lines = journal.read().split(b"\n")
    for line in lines[:-1]:  # what follows the last newline is a line torn by a crash
        ident, _, when = line.decode(errors="replace").partition(" ")
        try:
            marks.append((datetime.fromisoformat(when), int(ident)))
        except ValueError:  # never written by us: ignored (that row is sent again, once)
            log.warning("%s: unreadable line %r skipped", path, line[:80])
    if marks:
        with relaxed_transaction():
            _apply(marks)
    return len(marks)


def recover_journals() -> None:
    """Apply and remove the journals of drains that are no longer running (their process
    died, or a flush failed): called before claiming, so their rows are not sent again."""
    stem = journal_stem()
    if stem is None:
        return
    for path in sorted(glob.glob(glob.escape(stem) + ".*.*")):
        pid = path[len(stem) + 1 :].split(".", 1)[0]
        with _open_lock:
            busy = path in _open_journals
        if busy or not pid.isdigit() or (int(pid) != os.getpid() and process_alive(int(pid))):
            continue
        applied = apply_journal(path)
        os.unlink(path)
        if applied:
            log.warning("applied %d sent mark(s) left by an interrupted drain (%s)", applied, path)


def _apply(marks: list[tuple[datetime, int]]) -> None:
    for now, ident in marks:
        execute(_APPLY, [now, ident])
