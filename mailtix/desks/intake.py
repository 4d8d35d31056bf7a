"""Values the desks share: one incoming message being handled, and what became of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mailtix.config.model import Config, MailboxConfig
from mailtix.domain.values import Automation, ParsedMail
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
