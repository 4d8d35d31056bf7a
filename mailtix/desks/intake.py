"""Values the desks share: one incoming message being handled, and what became of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mailtix.config.model import Config, MailboxConfig
from mailtix.domain.values import Automation, ParsedMail
from mailtix.inbound.reply_text import visible_reply
from mailtix.store.models import Ticket

if TYPE_CHECKING:
    from mailtix.outbound.mailer import Mailer
    from mailtix.outbound.notify import Notifier


@dataclass(frozen=True)
class Incoming:
    mail: ParsedMail
    raw: bytes
    sha: str
    mailbox: MailboxConfig
    now: datetime
    automation: Automation
    thread_reason: str = ""
    # who an answer to the ticket goes to, when threading read it (StoreLookup.audience)
    audience: tuple[str, ...] | None = None
    # what the sender wrote of mail.text (reply_text.visible_reply), when the parse brought it
    visible: str | None = None

    def visible_text(self, text: str) -> str:
        """What the sender wrote of ``text`` (the mail's text, or its first part)."""
        if self.visible is not None and text == self.mail.text:
            return self.visible
        return visible_reply(text).text


@dataclass(frozen=True)
class DeskResult:
    kind: str  # ticket | followup | ignored | spam
    ticket: Ticket | None
    detail: str


class Desk:
    """What both desks share: the mailer (and through it the live config) and the notifier."""

    def __init__(self, mailer: Mailer, notifier: Notifier) -> None:
        self.mailer = mailer
        self.notifier = notifier

    @property
    def config(self) -> Config:
        return self.mailer.config
