"""The words mailtix stores and shows: ticket statuses, priorities, event types, message kinds
and directions, each defined once as a StrEnum (its values are the strings in the store, the
config and the JSON), plus the sets of them the rules ask about.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class EventType(StrEnum):
    """What an event on a ticket records."""

    CREATED = "created"
    STATUS = "status"
    PRIORITY = "priority"
    DEPARTMENT = "department"
    ASSIGNED = "assigned"
    CUSTOMER = "customer"
    TAG = "tag"
    PARTICIPANT = "participant"
    MESSAGE = "message"
    REPLIED = "replied"
    NOTE = "note"
    REOPENED = "reopened"
    LINKED = "linked"
    COPY = "copy"
    NO_ACK = "no-ack"
    BARE_ACK = "bare-ack"  # acknowledged with the reference only (sender not authenticated)
    SPAM = "spam"  # an agent's #spam / #notspam
    UNVERIFIED = "unverified"
    WITHHELD = "withheld"
    REJECTED = "rejected"
    BOUNCE = "bounce"
    NOT_SUPPRESSED = "not-suppressed"
    UNDELIVERABLE = "undeliverable"
    UNSUPPRESSED = "unsuppressed"
    SUPPRESSED = "suppressed"
    MAIL_FAILED = "mail-failed"
    SLA = "sla"
    REMINDER = "reminder"
    SURVEY = "survey"
    SATISFACTION = "satisfaction"
    MERGED = "merged"
    SNOOZED = "snoozed"
    ERASED = "erased"  # a person's data removed on request (``mailtix privacy erase``)
    ANONYMISED = "anonymised"  # closed long enough: addresses pseudonymised, text dropped
    RELEASED = "released"  # a kept mail (spam, ignored) made a ticket by ``quarantine retry``


class Field(StrEnum):
    """A ticket field whose change is an event (``Event.field``)."""

    STATUS = "status"
    PRIORITY = "priority"
    DEPARTMENT = "department"
    ASSIGNEE = "assignee"
    CUSTOMER = "customer"
    TAGS = "tags"
    MERGED_INTO = "merged_into"
    SNOOZED_UNTIL = "snoozed_until"


class QuarantineStatus(StrEnum):
    """A quarantine row: held (could not be processed), released (retried), or kept (spam or
    ignored mail delivered by LMTP or ``ingest``, where no folder holds it)."""

    HELD = "held"
    RELEASED = "released"
    KEPT = "kept"


class MessageKind(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    NOTE = "note"
    AUTO = "auto"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


STATUSES = tuple(Status)
PRIORITIES = tuple(Priority)
OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING)  # still to be worked on
DONE_STATUSES = (Status.RESOLVED, Status.CLOSED)
