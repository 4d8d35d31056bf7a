"""Choose where outgoing mail goes: a local Maildir when ``[smtp] maildir`` is set, else SMTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol

from mailtix.config.model import SmtpConfig
from mailtix.outbound.maildir_sink import MaildirSink
from mailtix.outbound.smtp_sender import SmtpSender


class Sender(Protocol):
    """What the outbox needs: an async context manager with ``send``."""

    async def __aenter__(self) -> Sender: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    async def reset(self) -> bool:
        """Ready for the next message (an SMTP RSET)? False when the connection is gone."""
        ...

    async def send(
        self,
        envelope_from: str,
        recipients: Sequence[str],
        raw: bytes,
        on_accepted: Callable[[], None] | None = None,
    ) -> None: ...


def open_sender(
    config: SmtpConfig, handover: asyncio.Lock | None = None, account: str = "smtp"
) -> Sender:
    """A MaildirSink for ``config.maildir``, else an SmtpSender (not connected until entered)
    of ``account`` (named in its errors); ``handover`` is shared by the connections of one
    sender (see ``smtp_sender``)."""
    if config.maildir is not None:
        return MaildirSink(config.maildir)
    return SmtpSender(config, handover, account)
