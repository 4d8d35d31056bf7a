"""A consistent copy of a SQLite store, taken while the daemon goes on writing.

SQLite's online backup API (``sqlite3.Connection.backup``) copies every page in one step: the
copy is the database as of one committed transaction, and in WAL mode the writers are not held
up meanwhile. The copy is a single self-contained file (rollback journal, no -wal/-shm beside
it), created 0600, never over an existing file; a failed copy leaves nothing behind.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from mailtix.domain.errors import MailtixError, UsageError

BUSY_TIMEOUT_SECONDS = 30.0


def backup_sqlite(source: Path, target: Path) -> int:
    """Copy the store at ``source`` into the new file ``target``; its size in bytes."""
    if not source.is_file():
        raise MailtixError(f"{source}: no store there (nothing to back up)")
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise UsageError(f"{target}: already exists; backup overwrites nothing") from None
    except OSError as exc:
        raise MailtixError(f"cannot create {target}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        _copy(source, target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target.stat().st_size


def _copy(source: Path, target: Path) -> None:
    read_only = f"file:{quote(str(source))}?mode=ro"
    try:
        with closing(_connect(read_only, uri=True)) as src, closing(_connect(str(target))) as dst:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")  # one file, readable on its own
            (verdict,) = dst.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as exc:
        raise MailtixError(f"backup of {source} failed: {exc}") from None
    if verdict != "ok":
        raise MailtixError(f"backup of {source} failed its check: {verdict}")


def _connect(where: str, *, uri: bool = False) -> sqlite3.Connection:
    return sqlite3.connect(where, uri=uri, timeout=BUSY_TIMEOUT_SECONDS)
