"""Files only their owner can read: what mailtix creates is 0600 (directories 0700) whatever the
umask, and a one-line warning for an existing file or directory that others can get at.

The store holds every raw mail and, unless the config gives one, the reply-token secret, so a
copy readable by other local users lets them read the mail and act as any agent.
"""

from __future__ import annotations

import os
import shlex
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_UMASK = 0o077
_lock = threading.RLock()
_depth = 0
_saved = 0


@contextmanager
def private_umask() -> Iterator[None]:
    """Everything created inside (by this or another thread, or a library such as mailbox) is
    owner-only. The umask is per process: nested and concurrent uses share one restore."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = os.umask(PRIVATE_UMASK)
            os.umask(_saved | PRIVATE_UMASK)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                os.umask(_saved)


def restrict_process_umask() -> None:
    """From now on this process (and its children) create owner-only files: the CLI's start."""
    current = os.umask(PRIVATE_UMASK)
    os.umask(current | PRIVATE_UMASK)


def make_private_dir(path: Path) -> None:
    """``path`` and any missing parents, created 0700 (existing ones are left as they are)."""
    with private_umask():
        Path(path).mkdir(parents=True, exist_ok=True)


def create_private_file(path: Path) -> bool:
    """An empty 0600 file at ``path`` unless one exists (then untouched); True if created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def write_private(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``; a file it creates is 0600 (an existing one keeps the
    mode its owner gave it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as out:
        out.write(text)


def exposure_warning(path: Path, what: str) -> str | None:
    """One line when group or others may read or write ``path`` (a file) or enter it (a
    directory), naming its mode and the chmod that fixes it; None when private or missing."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    private = 0o700 if os.path.isdir(path) else 0o600
    return (
        f"warning: {what} {path} is accessible to other users (mode {mode:04o}); "
        f"run: chmod {private:o} {shlex.quote(str(path))}"
    )
