"""What the pipeline is told about a message, and what it answers: where the message came
from (``Source``) and what became of it (``Outcome``). Apart from the pipeline, so that a poll
that finds nothing new, and the modules that only pass these along, need not import the
desks."""

from __future__ import annotations

from dataclasses import dataclass

from mailtix.desks.quarantine import NO_OVERRULE, Overrule


@dataclass(frozen=True)
class Source:
    """Where a message came from: the mailbox, and its IMAP identity when it has one.

    ``folderless``: no folder holds the mail (LMTP, ``ingest``), so spam and ignored mail is
    kept in the quarantine table (status kept); ``overrule``: an admin's release of such a mail.
    """

    mailbox: str
    uidvalidity: int = 0
    uid: int | None = None
    folderless: bool = False
    overrule: Overrule = NO_OVERRULE


@dataclass(frozen=True)
class Outcome:
    kind: str  # ticket | followup | ignored | spam | duplicate | quarantined | deferred
    ticket_ref: str | None = None
    detail: str = ""
