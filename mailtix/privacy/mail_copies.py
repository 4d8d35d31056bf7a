"""The copies of mail in the mailboxes' processed, quarantine and spam folders: find and delete
the ones naming a person (erase), or those older than a date in the quarantine folder
(retention).

Each call opens its own connection to each mailbox (IMAP, or the Maildir of a local mailbox)
beside any a running daemon holds; the daemon only moves mail into these folders, so deleting
there never touches what it is working on. A mailbox that cannot be reached is one line in
``errors``; the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mailtix.config.model import Config, MailboxConfig
from mailtix.domain.errors import MailSourceError
from mailtix.privacy.matching import Spellings

log = logging.getLogger(__name__)


@dataclass
class CopiesResult:
    found: dict[str, int] = field(default_factory=dict)  # "mailbox/folder": messages
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.found.values())


def _open(mailbox: MailboxConfig) -> Any:
    if mailbox.maildir is not None:
        from mailtix.inbound.maildir_source import MaildirSource

        return MaildirSource(mailbox)
    from mailtix.inbound.imap_source import ImapSource

    return ImapSource(mailbox, create_folders=False)


def _each_folder(
    config: Config, folders: Iterable[str], act: Any, result: CopiesResult
) -> CopiesResult:
    for mailbox in (m for m in config.mailboxes if m.polled):  # LMTP only: no folders
        # a key a mailbox does not have (spam_folder in older configs) is skipped
        names = [getattr(mailbox, f"{kind}_folder", None) for kind in folders]
        try:
            with _open(mailbox) as source:
                for folder in dict.fromkeys(name for name in names if name):
                    result.found[f"{mailbox.name}/{folder}"] = act(source, folder)
        except MailSourceError as exc:
            result.errors.append(str(exc))
        except Exception as exc:  # a dropped connection: said, and the next mailbox goes on
            log.exception("mail copies in %s", mailbox.name)
            result.errors.append(f"{mailbox.name}: {type(exc).__name__}: {exc}")
    return result


def erase_copies(
    config: Config, who: Spellings, message_ids: Iterable[str], *, dry_run: bool
) -> CopiesResult:
    """Delete (or, ``dry_run``, count) the messages in every processed, quarantine and spam
    folder that name ``who`` (headers or text, as a whole address) or carry one of
    ``message_ids``."""
    ids = sorted(message_ids)

    def act(source: Any, folder: str) -> int:
        keys: set[Any] = set(source.find(folder, message_ids=ids))
        for form in who.forms:
            keys.update(source.find(folder, text=form, confirm=who.mentioned_in_bytes))
        if not dry_run:
            source.delete(folder, sorted(keys))
        return len(keys)

    return _each_folder(config, ("processed", "quarantine", "spam"), act, CopiesResult())


def purge_quarantine_folders(config: Config, before: date) -> CopiesResult:
    """Delete the messages in every quarantine folder that arrived before ``before``."""

    def act(source: Any, folder: str) -> int:
        keys = source.find(folder, before=before)
        source.delete(folder, keys)
        return len(keys)

    return _each_folder(config, ("quarantine",), act, CopiesResult())
