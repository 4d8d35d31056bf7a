"""Deliver outgoing mail into a local Maildir instead of an SMTP server (demo and development).

It has the same async interface as ``SmtpSender``. Each message is stored as one file, with
``Return-Path`` and ``Delivered-To`` lines prepended as a local delivery agent would, so the
envelope stays visible. Its directories and files are owner-only (``private_files``).
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from mailtix.domain.errors import SendError
from mailtix.domain.private_files import private_umask

log = logging.getLogger(__name__)


def _clean(address: str) -> str:
    return "".join(ch for ch in address if ch.isprintable() and not ch.isspace())


def _add_private(maildir: mailbox.Maildir, data: bytes) -> str:
    with private_umask():  # mailbox creates message files 0666 minus the umask
        return maildir.add(data)


class MaildirSink:
    """Writes each sent message into the Maildir at ``path`` (created when missing)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._maildir: mailbox.Maildir | None = None

    async def __aenter__(self) -> MaildirSink:
        try:
            with private_umask():
                self._maildir = mailbox.Maildir(self.path, factory=None, create=True)
        except OSError as exc:
            raise SendError(
                f"cannot open Maildir {self.path}: {exc}", permanent=False, connection_lost=True
            ) from None
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._maildir = None

    async def reset(self) -> bool:
        return self._maildir is not None

    async def send(
        self,
        envelope_from: str,
        recipients: Sequence[str],
        raw: bytes,
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        """Store ``raw`` as one new message; SendError when there is nobody to deliver to."""
        if self._maildir is None:
            raise SendError(f"Maildir {self.path} is not open", permanent=False)
        if not recipients:
            raise SendError("no recipients", permanent=True)
        trace = [f"Return-Path: <{_clean(envelope_from)}>"]
        trace += [f"Delivered-To: {_clean(recipient)}" for recipient in recipients]
        data = "\r\n".join(trace).encode("utf-8") + b"\r\n" + raw
        try:
            key = await asyncio.to_thread(_add_private, self._maildir, data)
        except OSError as exc:
            raise SendError(
                f"cannot write to Maildir {self.path}: {exc}", permanent=False
            ) from None
        if on_accepted is not None:
            on_accepted()
        log.info("delivered %s to Maildir %s as %s", ", ".join(recipients), self.path, key)
