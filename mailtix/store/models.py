"""Peewee models for tickets, messages, attachments, participants, events, outbox, IMAP state,
the ingest ledger (receipts) and the quarantine. Bound to a proxy; ``db.open_store`` binds it.

Timestamps are naive UTC datetimes (``clock.utcnow``); presentation adds the offset.
"""

from __future__ import annotations

import json
from typing import Any

from peewee import (
    AutoField,
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from mailtix.domain.vocabulary import Priority, Status
from mailtix.store.statements import insert_row, update_row

database_proxy = DatabaseProxy()


class BaseModel(Model):
    id = AutoField()

    class Meta:
        database = database_proxy

    def save(self, force_insert: bool = False, only: Any = None) -> int | bool:
        """Peewee's save, with the SQL of the INSERT or UPDATE built once per column set
        (``statements``): every message writes several rows, and building SQL was most of it."""
        if only is not None:
            return int(super().save(force_insert=force_insert, only=only))
        data = dict(self.__data__)
        pk = data.pop("id", None)
        if pk is None or force_insert:
            if pk is not None:
                data = {"id": pk, **data}
            self.id = insert_row(type(self), data)
            rows = 1
        else:
            rows = update_row(type(self), pk, data)
        self._dirty.clear()  # type: ignore[attr-defined]
        return rows


class JsonListField(TextField):
    """A list stored as JSON text (portable across SQLite and PostgreSQL)."""

    def db_value(self, value: object) -> str:
        if not value:
            return "[]"
        return json.dumps(list(value), ensure_ascii=False)  # type: ignore[call-overload]

    def python_value(self, value: object) -> list[str]:
        return list(json.loads(value)) if value else []  # type: ignore[arg-type]


class Ticket(BaseModel):
    subject = TextField()
    status = CharField(max_length=16, default=Status.NEW)  # indexed with created_at (Meta)
    priority = CharField(max_length=16, default=Priority.NORMAL)
    department = CharField(max_length=100, index=True)
    assignee = CharField(max_length=320, null=True, index=True)
    customer = CharField(max_length=320)
    customer_name = TextField(default="")
    mailbox = CharField(max_length=100)
    tags = JsonListField(default=list)
    satisfaction = IntegerField(null=True)
    created_at = DateTimeField(index=True)
    updated_at = DateTimeField()
    closed_at = DateTimeField(null=True)
    # life cycle and SLA (schema: migrations._lifecycle_columns)
    first_response_due = DateTimeField(null=True)
    resolution_due = DateTimeField(null=True)
    first_response_at = DateTimeField(null=True)
    resolved_at = DateTimeField(null=True)
    satisfaction_comment = TextField(null=True)
    linked_ticket = IntegerField(null=True)  # the earlier ticket this one continues
    # agents' workflow (schema: migrations._merge_snooze_columns)
    merged_into = IntegerField(null=True)  # the ticket this one was merged into (then closed)
    snoozed_until = DateTimeField(null=True)  # pending until then (#snooze), then open again
    # the customer's organisation when the ticket was opened (schema: migrations._customers)
    organisation = CharField(max_length=100, null=True)
    spam = BooleanField(default=False)  # an agent's #spam: out of the reports (migrations._spam)

    class Meta:
        table_name = "ticket"
        indexes = (
            (("status", "created_at"), False),  # report: backlog
            (("customer", "status"), False),  # a customer's open tickets (notifications)
        )


class Participant(BaseModel):
    # no index of its own: (ticket, email) below serves lookups by ticket
    ticket = ForeignKeyField(Ticket, backref="participants", on_delete="CASCADE", index=False)
    email = CharField(max_length=320)
    name = TextField(default="")
    role = CharField(max_length=16)  # customer | cc | agent
    added_at = DateTimeField()

    class Meta:
        table_name = "participant"
        indexes = ((("ticket", "email"), True),)


class Message(BaseModel):
    # no index of its own: (ticket, kind, created_at) below serves lookups by ticket
    ticket = ForeignKeyField(Ticket, backref="messages", on_delete="CASCADE", index=False)
    ticket_id: int
    direction = CharField(max_length=3)  # in | out
    kind = CharField(max_length=16)  # customer | agent | note | auto
    from_addr = CharField(max_length=320, default="")
    from_name = TextField(default="")
    to_addrs = JsonListField(default=list)
    cc_addrs = JsonListField(default=list)
    subject = TextField(default="")
    text = TextField(default="")
    html = TextField(null=True)
    message_id = CharField(max_length=998, null=True, index=True)
    in_reply_to = TextField(default="")
    references = TextField(default="")
    automation = CharField(max_length=32, default="human")
    thread_reason = TextField(default="")
    rfc822 = BlobField(null=True)
    raw_sha256 = CharField(max_length=64, null=True)
    created_at = DateTimeField()

    class Meta:
        table_name = "message"
        indexes = ((("ticket", "kind", "created_at"), False),)  # report: first response


class Attachment(BaseModel):
    message = ForeignKeyField(Message, backref="attachments", on_delete="CASCADE")
    message_id: int
    storage_name = CharField(max_length=64, unique=True)  # generated; the sender's name is metadata
    filename = TextField()
    content_type = CharField(max_length=255)
    size = IntegerField()
    content = BlobField()

    class Meta:
        table_name = "attachment"


class Event(BaseModel):
    """What happened to a ticket: ``detail`` is the human text; a change of a field also says
    which (``field``), from what and to what (``old_value``, ``new_value``) and why (``reason``);
    an ``sla`` event names its target in ``field``, the state in ``new_value`` and the due time
    in ``reason`` (schema: migrations._typed_events)."""

    # no indexes of their own: (ticket, type, at) and (type, at) below serve both
    ticket = ForeignKeyField(Ticket, backref="events", on_delete="CASCADE", index=False)
    type = CharField(max_length=32)
    detail = TextField(default="")
    actor = CharField(max_length=320, default="mailtix")
    at = DateTimeField(index=True)
    field = CharField(max_length=32, null=True)
    old_value = TextField(null=True)
    new_value = TextField(null=True)
    reason = TextField(null=True)

    class Meta:
        table_name = "event"
        indexes = (  # report: resolution per ticket, status changes per period
            (("ticket", "type", "at"), False),
            (("type", "at"), False),
        )


class OutboxItem(BaseModel):
    ticket = ForeignKeyField(  # indexed with recipient_key (Meta)
        Ticket, backref="outbox", null=True, on_delete="SET NULL", index=False
    )
    ticket_id: int | None
    kind = CharField(max_length=32)  # acknowledgement | ...
    automatic = BooleanField(default=True)
    envelope_from = CharField(max_length=320)
    recipients = JsonListField()
    recipient_key = CharField(max_length=320)  # first recipient, for rate limits (Meta)
    message_id = CharField(max_length=998, index=True)  # "is this our own mail?" per message
    rfc822 = BlobField()
    status = CharField(max_length=16, default="pending")  # pending|sending|sent|failed (Meta)
    claimed_by = CharField(max_length=100, default="")  # worker sending it (status "sending")
    claimed_at = DateTimeField(null=True)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField()  # indexed with status (Meta)
    last_error = TextField(default="")
    created_at = DateTimeField()
    sent_at = DateTimeField(null=True)

    class Meta:
        table_name = "outbox"
        indexes = (  # the hourly budgets: a mailbox's, and one recipient's
            (("envelope_from", "automatic", "created_at"), False),
            (("recipient_key", "created_at", "kind", "automatic"), False),  # index only
            (("ticket", "recipient_key", "created_at"), False),  # and the ticket's outbox
            # what a sender holds (claims.held_by), and what it may claim (claims.take, the
            # rows due and the rows a claim has run out on), index only: past its rfc822 blob
            # a row's columns are read from its overflow pages
            (("status", "claimed_by", "claimed_at"), False),
            (("status", "next_attempt_at"), False),
        )


class MailboxState(BaseModel):
    mailbox = CharField(max_length=100, unique=True)
    uidvalidity = BigIntegerField(null=True)
    last_uid = BigIntegerField(default=0)
    updated_at = DateTimeField()

    class Meta:
        table_name = "mailbox_state"


class Receipt(BaseModel):
    """One row per message a mailbox delivered to mailtix, whatever became of it."""

    mailbox = CharField(max_length=100)
    uidvalidity = BigIntegerField(default=0)
    uid = BigIntegerField(null=True)
    sha256 = CharField(max_length=64)
    outcome = CharField(max_length=16)  # ticket | followup | ignored | duplicate | quarantined
    detail = TextField(default="")
    ticket = ForeignKeyField(Ticket, null=True, on_delete="SET NULL")
    ticket_id: int | None
    created_at = DateTimeField()

    class Meta:
        table_name = "receipt"
        indexes = (
            (("mailbox", "uidvalidity", "uid"), True),
            (("mailbox", "sha256"), False),
        )


class QuarantineItem(BaseModel):
    mailbox = CharField(max_length=100)
    uidvalidity = BigIntegerField(default=0)
    uid = BigIntegerField(null=True)
    sha256 = CharField(max_length=64, index=True)
    rfc822 = BlobField(null=True)  # None when the message was too large to download
    size = BigIntegerField(default=0)
    reason = TextField()
    status = CharField(max_length=16, default="held", index=True)  # held | released
    created_at = DateTimeField()

    class Meta:
        table_name = "quarantine"


class IngestAttempt(BaseModel):
    """How often processing a message was started; committed before each attempt, so a message
    that crashes the process (or keeps failing) is quarantined after a few tries."""

    mailbox = CharField(max_length=100)
    sha256 = CharField(max_length=64)
    attempts = IntegerField(default=0)
    last_error = TextField(default="")
    updated_at = DateTimeField()

    class Meta:
        table_name = "ingest_attempt"
        indexes = ((("mailbox", "sha256"), True),)


class SendPace(BaseModel):
    """Sends per second of the last minute through one SMTP account (``store.pace``)."""

    account = CharField(max_length=400, unique=True)  # user@host:port, as outbound.accounts
    sends = TextField(default="{}")  # JSON: {epoch second: mails sent}
    version = IntegerField(default=0)  # bumped by every write: a write must not be lost

    class Meta:
        table_name = "send_pace"


class Suppression(BaseModel):
    """An address that bounced permanently: no automatic mail goes to it for
    ``tickets.suppression_days`` after ``created_at`` (the time of its last bounce)."""

    address = CharField(max_length=320, unique=True)
    reason = TextField(default="")
    ticket = ForeignKeyField(Ticket, null=True, on_delete="SET NULL")
    ticket_id: int | None
    created_at = DateTimeField()

    class Meta:
        table_name = "suppression"


class Setting(BaseModel):
    """Installation-wide values mailtix generates itself (e.g. the reply-token secret)."""

    key = CharField(max_length=100, unique=True)
    value = TextField()

    class Meta:
        table_name = "setting"


class MailboxHealth(BaseModel):
    """What the polls of one mailbox found, for ``mailtix status``: written when it changes
    (a first failure, a recovery, another error) and otherwise at most every few minutes."""

    mailbox = CharField(max_length=100, unique=True)
    checked_at = DateTimeField()  # the latest poll this row records, good or bad
    last_success_at = DateTimeField(null=True)
    last_error = TextField(default="")
    last_error_at = DateTimeField(null=True)
    failing_since = DateTimeField(null=True)  # first failure of the current run; None: fine
    waiting = IntegerField(null=True)  # messages left in its folder after the last good poll

    class Meta:
        table_name = "mailbox_health"


class Heartbeat(BaseModel):
    """One row per daemon (``mailtix run``): it beats every ``interval`` seconds while alive."""

    worker = CharField(max_length=100, unique=True)  # host:pid
    started_at = DateTimeField()
    beat_at = DateTimeField()
    interval = IntegerField()
    stopped_at = DateTimeField(null=True)  # a clean stop; a crash leaves the beat to age

    class Meta:
        table_name = "heartbeat"


class Customer(BaseModel):
    """A person who opened a ticket or took part in one (desks/customer keeps it current).

    ``key`` is ``domain.addresses.address_key(email)``, the one spelling every lookup uses.
    ``organisation`` is only set by ``mailtix customers import``; otherwise the organisation
    follows from config/organisations.toml (decisions/organisations).
    """

    key = CharField(max_length=320, unique=True)
    email = CharField(max_length=320)
    name = TextField(default="")
    language = CharField(max_length=16, default="")  # "" = the organisation's or mailbox's
    tags = JsonListField(default=list)
    organisation = CharField(max_length=100, null=True)
    first_seen = DateTimeField()
    last_seen = DateTimeField()

    class Meta:
        table_name = "customer"


class PrivacyEvent(BaseModel):
    """What an erase or a retention run did, as counts per kind; never names the person
    (``privacy.erase``, ``lifecycle.retention``)."""

    type = CharField(max_length=32)  # erase | retention
    at = DateTimeField(index=True)
    actor = CharField(max_length=320, default="mailtix")
    detail = TextField(default="")  # "tickets 3, messages 9, ..."

    class Meta:
        table_name = "privacy_event"


class FolderMove(BaseModel):
    """A ticket's customer mail to move between its mailbox's folders at the next poll
    (``store.folder_moves``): to spam_folder after ``#spam``, back after ``#notspam``."""

    ticket = ForeignKeyField(Ticket, on_delete="CASCADE", index=False)
    ticket_id: int
    mailbox = CharField(max_length=100)
    message_id = CharField(max_length=998)
    raw_sha256 = CharField(max_length=64)  # of the bytes stored: only that copy moves
    to_spam = BooleanField()
    created_at = DateTimeField()

    class Meta:
        table_name = "folder_move"
        indexes = ((("mailbox", "id"), False), (("ticket",), False))


class SchemaVersion(BaseModel):
    version = IntegerField()

    class Meta:
        table_name = "schema_version"


ALL_MODELS = (
    Ticket,
    Participant,
    Message,
    Attachment,
    Event,
    OutboxItem,
    MailboxState,
    Receipt,
    QuarantineItem,
    Setting,
    Suppression,
    IngestAttempt,
    SendPace,
    MailboxHealth,
    Heartbeat,
    Customer,
    PrivacyEvent,
    FolderMove,
)
