"""Values the desks share: one incoming message being handled, and what became of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailtix.config import MailboxConfig
from mailtix.store.models import Ticket
from mailtix.values import Automation, ParsedMail


@dataclass(frozen=True)
class Incoming:
    mail: ParsedMail
    raw: bytes
    sha: str
    mailbox: MailboxConfig
    now: datetime
    automation: Automation
    thread_reason: str = ""


@dataclass(frozen=True)
class DeskResult:
    kind: str  # ticket | followup | ignored
    ticket: Ticket | None
    detail: str
