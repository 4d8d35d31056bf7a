"""Plain, immutable values passed between mailtix modules (no I/O library types cross modules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Address:
    """One mailbox: the addr-spec (lower-cased, no control characters) and a display name."""

    email: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


@dataclass(frozen=True)
class Attachment:
    """An attachment as received. ``filename`` is sanitised metadata only, never a storage path."""

    filename: str
    content_type: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class ParsedMail:
    """What mailtix knows about one incoming message after parsing; every string is clean text.

    Header values are decoded (RFC 2047/2231) and stripped of CR, LF and NUL. ``headers`` keeps
    every header as (lower-case name, decoded value) in message order, for rules and loop checks.
    ``return_path`` is the envelope sender when the message carries one ("" for the null
    sender ``<>``), else None.
    """

    message_id: str | None
    subject: str
    sender: Address | None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    date: datetime | None = None
    text: str = ""
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    return_path: str | None = None
    defects: tuple[str, ...] = ()
    original_from: tuple[Address, ...] = ()  # X-Original-From, as a list's DMARC rewrite keeps it

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def header_all(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name`` (case-insensitive), in message order."""
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key == wanted)

    @property
    def recipients(self) -> tuple[Address, ...]:
        return self.to + self.cc


@dataclass(frozen=True)
class Automation:
    """Whether a message was sent by a machine (RFC 3834 and friends), and why.

    ``kind`` is "human", "auto-reply", "bounce", "list", "bulk", "system" or "own" (sent from
    one of mailtix's own addresses, i.e. a loop).
    """

    kind: str
    reason: str = ""

    @property
    def automated(self) -> bool:
        return self.kind != "human"


HUMAN = Automation("human")


@dataclass(frozen=True)
class RuleTrace:
    """How one routing rule fared against a message: matched or not, and why."""

    rule: str
    matched: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class RouteDecision:
    """What routing decided for a new ticket, with the trace of every rule tried."""

    department: str
    priority: str = "normal"
    assign: str | None = None
    tags: tuple[str, ...] = ()
    acknowledge: bool = True
    ignore: bool = False
    spam: bool = False
    matched_rules: tuple[str, ...] = ()
    trace: tuple[RuleTrace, ...] = ()
    organisation: str | None = None  # the sender's, whose defaults came before the rules
    organisation_reason: str = ""


@dataclass(frozen=True)
class ThreadDecision:
    """Which existing ticket (if any) a message belongs to, and the evidence.

    ``ticket_id`` is None for a new ticket. ``reason`` says which header or tag decided, or why
    a subject tag was not trusted.
    """

    ticket_id: int | None
    reason: str


@dataclass(frozen=True)
class OutgoingMail:
    """A message mailtix sends, before it is turned into bytes by ``compose``."""

    sender: Address
    to: tuple[Address, ...]
    subject: str
    text: str
    html: str
    message_id: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    auto_submitted: str | None = None
    reply_to: Address | None = None
    cc: tuple[Address, ...] = ()
    extra_headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    attachments: tuple[Attachment, ...] = ()
