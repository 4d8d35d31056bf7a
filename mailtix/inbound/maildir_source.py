"""A local Maildir as a mailbox (for ``mailtix demo`` and development): same interface as
ImapSource, with Maildir++ subfolders (``.Processed``, ``.Quarantine``) as the target folders.
Maildir has no UIDs, so keys are file keys and duplicates are recognised by content hash.
What it creates is owner-only (``private_files``).
"""

from __future__ import annotations

import mailbox
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType

from mailtix.config.model import MailboxConfig
from mailtix.domain.private_files import private_umask

MESSAGE_ID = re.compile(rb"(?im)^message-id:\s*(<[^>\r\n]*>)")
DIGITS = re.compile(r"(\d+)")


def arrival_order(key: str) -> list[str | int]:
    """Sort key putting Maildir names in the order they were delivered: runs of digits
    compare as numbers, so ``1796283809.M999999P1Q9`` comes before ``1796283809.M1000001P1Q10``
    (as plain strings the microseconds and counters, not zero-padded, sort the other way)."""
    return [int(part) if part.isdigit() else part for part in DIGITS.split(key)]


class MaildirSource:
    uidvalidity = 0
    supports_idle = False

    def __init__(self, config: MailboxConfig) -> None:
        if config.maildir is None:
            raise ValueError("mailbox has no maildir")
        self.config = config
        with private_umask():
            self.box = mailbox.Maildir(Path(config.maildir), factory=None, create=True)

    def __enter__(self) -> MaildirSource:
        cfg = self.config
        for folder in (cfg.processed_folder, cfg.quarantine_folder, cfg.spam_folder):
            self.ensure_folder(folder)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.box.close()

    def ensure_folder(self, folder: str) -> None:
        if folder not in self.box.list_folders():
            with private_umask():
                self.box.add_folder(folder)

    def list_keys(self) -> list[str]:
        return sorted(self.box.keys(), key=arrival_order)

    def sizes(self, keys: Sequence[str]) -> dict[str, int]:
        return {key: self._path(key).stat().st_size for key in keys}

    def fetch(self, keys: Sequence[str]) -> Iterator[tuple[str, bytes]]:
        for key in keys:
            yield key, self.box.get_bytes(key)

    def move(self, keys: Sequence[str], folder: str) -> None:
        target = self.box.get_folder(folder)
        for key in keys:
            with private_umask():
                target.add(self.box.get_bytes(key))
            self.box.discard(key)

    def find(
        self,
        folder: str,
        *,
        text: str | None = None,
        message_ids: Sequence[str] = (),
        before: date | None = None,
        confirm: Callable[[bytes], bool] | None = None,
    ) -> list[str]:
        """Keys in ``folder`` whose bytes contain ``text`` (any case), whose Message-ID is one
        of ``message_ids``, or whose file is older than ``before``; with ``confirm``, only
        those whose bytes it accepts (as ImapSource.find)."""
        if folder not in self.box.list_folders():
            return []
        target, wanted = self.box.get_folder(folder), {m.strip() for m in message_ids}
        needle = text.lower().encode("utf-8") if text else None
        found = []
        for key in sorted(target.keys()):
            raw = target.get_bytes(key)
            header = raw.split(b"\n\n", 1)[0].replace(b"\r", b"")
            ids = {i.decode("ascii", "replace") for i in MESSAGE_ID.findall(header)}
            old = before is not None and _file(target, key).stat().st_mtime < _midnight(before)
            named = needle is not None and needle in raw.lower()
            if (named or ids & wanted or old) and (confirm is None or confirm(raw)):
                found.append(key)
        return found

    def refile(
        self, message_ids: Sequence[str], from_folder: str, to_folder: str,
        confirm: Callable[[bytes], bool] | None = None,
    ) -> int:  # fmt: skip
        """Move the mail of ``from_folder`` carrying one of ``message_ids`` (and, with
        ``confirm``, whose bytes it accepts) into ``to_folder`` (as ImapSource.refile); how
        many moved."""
        keys = self.find(from_folder, message_ids=message_ids, confirm=confirm)
        if keys:
            self.ensure_folder(to_folder)
            source, target = self.box.get_folder(from_folder), self.box.get_folder(to_folder)
            for key in keys:
                with private_umask():
                    target.add(source.get_bytes(key))
                source.discard(key)
        return len(keys)

    def delete(self, folder: str, keys: Sequence[str]) -> None:
        if not keys:
            return
        target = self.box.get_folder(folder)
        for key in keys:
            target.discard(key)

    def _path(self, key: str) -> Path:
        return _file(self.box, key)


def _file(box: mailbox.Maildir, key: str) -> Path:
    return Path(box._path) / box._lookup(key)  # type: ignore[attr-defined]


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def missing_parts(config: MailboxConfig) -> list[str]:
    """What opening the mailbox would create: the Maildir itself and its target folders."""
    folders = (config.processed_folder, config.quarantine_folder, config.spam_folder)
    wanted = list(dict.fromkeys(folders))
    path = Path(config.maildir or "")
    if not path.is_dir():
        return [f"Maildir {path}", *wanted]
    present = mailbox.Maildir(path, factory=None, create=False).list_folders()
    return [folder for folder in wanted if folder not in present]
