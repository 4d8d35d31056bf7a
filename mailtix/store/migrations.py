"""Schema versions. A new database gets the current schema at once; an older one is upgraded
step by step, each step in its own transaction, so later releases never lose data.

To change the schema: edit the models, append a step to ``STEPS`` that brings a database of the
previous version to the new one (``playhouse.migrate`` operations), and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from peewee import Database, PostgresqlDatabase

from mailtix.domain.errors import MailtixError
from mailtix.store.models import ALL_MODELS, SchemaVersion

log = logging.getLogger(__name__)


def _index_outbox_message_id(db: Database) -> None:
    """Version 2: the pipeline looks up outbox.message_id for every incoming mail (own-mail
    check); without an index that is a full scan of an ever-growing table. Same name as the
    index create_tables makes for a new database."""
    db.execute_sql("CREATE INDEX IF NOT EXISTS outboxitem_message_id ON outbox (message_id)")


def _settings_table(db: Database) -> None:
    """Version 3: installation-wide settings (the generated reply-token secret)."""
    from mailtix.store.models import Setting

    db.create_tables([Setting])


def _suppression_table(db: Database) -> None:
    """Addresses that bounced permanently (no more automatic mail to them)."""
    from mailtix.store.models import Suppression

    db.create_tables([Suppression])


def _attempts_table(db: Database) -> None:
    """Attempt counters for incoming messages (poison-message quarantine)."""
    from mailtix.store.models import IngestAttempt

    db.create_tables([IngestAttempt])


def _report_indexes(db: Database) -> None:
    """Indexes for ``mailtix report``: first agent message and first resolution per ticket,
    status changes in a period, the open backlog. Same names as create_tables makes."""
    for statement in REPORT_INDEXES:
        db.execute_sql(statement)


REPORT_INDEXES = (
    "CREATE INDEX IF NOT EXISTS message_ticket_id_kind_created_at "
    "ON message (ticket_id, kind, created_at)",
    "CREATE INDEX IF NOT EXISTS event_ticket_id_type_at ON event (ticket_id, type, at)",
    "CREATE INDEX IF NOT EXISTS event_type_at ON event (type, at)",
    "CREATE INDEX IF NOT EXISTS ticket_status_created_at ON ticket (status, created_at)",
)


def _outbox_claims(db: Database) -> None:
    """Outbox rows are claimed by one worker before sending (several workers, one store)."""
    from playhouse.migrate import SchemaMigrator, migrate

    from mailtix.store.models import OutboxItem

    migrator = SchemaMigrator.from_database(db)
    present = {c.name for c in db.get_columns("outbox")}
    wanted = [("claimed_by", OutboxItem.claimed_by), ("claimed_at", OutboxItem.claimed_at)]
    migrate(*(migrator.add_column("outbox", n, f) for n, f in wanted if n not in present))


def _lifecycle_columns(db: Database) -> None:
    """Life cycle and SLA: due times, first response, resolution, survey comment, linked ticket."""
    from playhouse.migrate import SchemaMigrator, migrate

    from mailtix.store.models import Ticket

    migrator = SchemaMigrator.from_database(db)
    present = {c.name for c in db.get_columns("ticket")}
    names = ("first_response_due", "resolution_due", "first_response_at", "resolved_at",
             "satisfaction_comment", "linked_ticket")  # fmt: skip
    wanted = [(n, getattr(Ticket, n)) for n in names if n not in present]
    migrate(*(migrator.add_column("ticket", n, f) for n, f in wanted))


DROPPED_INDEXES = (
    "ticket_status",  # (status, created_at) serves it
    "ticket_customer",  # nothing looks tickets up by customer
    "participant_ticket_id",  # (ticket_id, email) serves it
    "message_ticket_id",  # (ticket_id, kind, created_at) serves it
    "message_created_at",  # nothing looks messages up by time alone
    "message_raw_sha256",  # the ledger (receipt) finds messages by their bytes
    "event_ticket_id",  # (ticket_id, type, at) serves it
    "event_type",  # (type, at) serves it
)


def _drop_idle_indexes(db: Database) -> None:
    """Version 9: indexes no query needs, each written at every new ticket (a third of the
    index pages a new ticket dirtied): a prefix of another index, or never searched."""
    for name in DROPPED_INDEXES:
        db.execute_sql(f"DROP INDEX IF EXISTS {name}")


def _typed_events(db: Database) -> None:
    """Version 10: events say which field changed, from what, to what and why in columns of
    their own, filled here from the text the older versions wrote (``backfill``); tickets
    answered before first_response_at was kept get it from their first agent message."""
    from playhouse.migrate import SchemaMigrator, migrate

    from mailtix.store.backfill import typed_columns
    from mailtix.store.models import Event

    migrator = SchemaMigrator.from_database(db)
    present = {c.name for c in db.get_columns("event")}
    names = ("field", "old_value", "new_value", "reason")
    migrate(
        *(migrator.add_column("event", n, getattr(Event, n)) for n in names if n not in present)
    )
    rows = db.execute_sql(
        "SELECT id, type, detail FROM event WHERE field IS NULL AND type IN "
        "('status', 'priority', 'department', 'assigned', 'customer', 'tag', 'sla')"
    ).fetchall()
    for event_id, type_, detail in rows:
        values = typed_columns(type_, detail)
        if values is not None:
            Event.update(**values).where(Event.id == event_id).execute()
    db.execute_sql(
        "UPDATE ticket SET first_response_at = (SELECT MIN(m.created_at) FROM message m "
        "WHERE m.ticket_id = ticket.id AND m.kind = 'agent') WHERE first_response_at IS NULL"
    )


def _health_tables(db: Database) -> None:
    """Per-mailbox poll results and daemon heartbeats, for ``mailtix status``."""
    from mailtix.store.models import Heartbeat, MailboxHealth

    db.create_tables([MailboxHealth, Heartbeat])


def _merge_snooze_columns(db: Database) -> None:
    """Agents' workflow: where a merged ticket went (``#merge``), until when it is snoozed."""
    from playhouse.migrate import SchemaMigrator, migrate

    from mailtix.store.models import Ticket

    migrator = SchemaMigrator.from_database(db)
    present = {c.name for c in db.get_columns("ticket")}
    wanted = [(n, getattr(Ticket, n)) for n in ("merged_into", "snoozed_until") if n not in present]
    migrate(*(migrator.add_column("ticket", n, f) for n, f in wanted))


def _customers(db: Database) -> None:
    """Customers: a record for every existing ticket's customer (first and last seen from
    their tickets), the organisation a ticket was opened for (unknown for older ones), and an
    index for a customer's open tickets (same name as create_tables makes)."""
    from playhouse.migrate import SchemaMigrator, migrate

    from mailtix.store.customers import customers_from_tickets
    from mailtix.store.models import Customer, Ticket

    db.create_tables([Customer])
    if "organisation" not in {c.name for c in db.get_columns("ticket")}:
        migrator = SchemaMigrator.from_database(db)
        migrate(migrator.add_column("ticket", "organisation", Ticket.organisation))
    db.execute_sql("CREATE INDEX IF NOT EXISTS ticket_customer_status ON ticket (customer, status)")
    customers_from_tickets(db)


def _send_pace_table(db: Database) -> None:
    """Mails sent per account in the last minute (``[smtp] max_per_minute``)."""
    from mailtix.store.models import SendPace

    db.create_tables([SendPace])


def _search_index(db: Database) -> None:
    """Full-text search over messages (``#find``, ``tickets search``), filled from the
    messages already stored."""
    from mailtix.store.search_index import create_index, rebuild

    create_index(db)
    rebuild(db)


def _privacy_events(db: Database) -> None:
    """What erases and retention runs did, as counts (``privacy_event``)."""
    from mailtix.store.models import PrivacyEvent

    db.create_tables([PrivacyEvent])


def _spam(db: Database) -> None:
    """Tickets an agent marked ``#spam``: kept, but out of the reports."""
    from playhouse.migrate import SchemaMigrator, migrate

    from mailtix.store.models import Ticket

    if "spam" not in {c.name for c in db.get_columns("ticket")}:
        migrate(SchemaMigrator.from_database(db).add_column("ticket", "spam", Ticket.spam))


def _mailbox_budget_index(db: Database) -> None:
    """Automatic mail From one mailbox in the last hour (``auto_reply_budget_per_hour``):
    0.007 ms instead of 32 ms over 100,000 outbox rows. Same name as create_tables makes."""
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS outboxitem_envelope_from_created_at "
        "ON outbox (envelope_from, created_at)"
    )


def _budget_indexes(db: Database) -> None:
    """The hourly budgets count one recipient's or one mailbox's mail of the last hour: with
    (recipient_key) alone every count read all the recipient's rows ever sent (an agent's
    notification budget, 0.4 ms a notification after 1,000 and growing), with (envelope_from,
    created_at) every row of the hour, by ticket every mail of the ticket. These answer each
    from the index, within the hour; (ticket_id, ...) also serves what looked up by ticket."""
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS outboxitem_recipient_key_created_at_kind_automatic "
        "ON outbox (recipient_key, created_at, kind, automatic)"
    )
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS outboxitem_envelope_from_automatic_created_at "
        "ON outbox (envelope_from, automatic, created_at)"
    )
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS outboxitem_ticket_id_recipient_key_created_at "
        "ON outbox (ticket_id, recipient_key, created_at)"
    )
    db.execute_sql("DROP INDEX IF EXISTS outboxitem_ticket_id")
    db.execute_sql("DROP INDEX IF EXISTS outboxitem_recipient_key")
    db.execute_sql("DROP INDEX IF EXISTS outboxitem_envelope_from_created_at")


def _claims_index(db: Database) -> None:
    """A sender reads the ids of the rows it holds (``claims.held_by``) at every refill:
    through (status) alone each "sending" row's claimed_by was read from the table, past its
    rfc822 blob's overflow pages (2.5 ms a read with 2,000 rows queued for the sender,
    0.5 ms from this index). Same name as create_tables makes."""
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS outboxitem_status_claimed_by ON outbox (status, claimed_by)"
    )


def _folder_moves(db: Database) -> None:
    """Mail an agent's ``#spam`` or ``#notspam`` moves between folders at the next poll."""
    from mailtix.store.models import FolderMove

    db.create_tables([FolderMove])


def _search_index_groups(db: Database) -> None:
    """A group of messages in one transaction indexes the messages it adds at its end
    (``search_index.indexed_at_end``): the triggers leave those rows to it."""
    from mailtix.store.search_index import recreate_triggers

    recreate_triggers(db)


def _drop_outbox_status_index(db: Database) -> None:
    """(status, claimed_by) serves every query by status, counts included (index only), so
    (status) alone was one more index written at every outbox row and every claim."""
    db.execute_sql("DROP INDEX IF EXISTS outboxitem_status")


def _claim_indexes(db: Database) -> None:
    """A sender looks for the rows it may claim (``claims.take``) at every refill, and
    ``poll --once`` asks whether there is any (``claims.anything_to_send``): through (status,
    claimed_by) each pending row's next_attempt_at, and each claimed row's claimed_at, was read
    from the table past its rfc822 blob. These answer both from the index; (next_attempt_at)
    alone served no query. Same names as create_tables makes."""
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS outboxitem_status_next_attempt_at "
        "ON outbox (status, next_attempt_at)"
    )
    db.execute_sql(
        "CREATE INDEX IF NOT EXISTS outboxitem_status_claimed_by_claimed_at "
        "ON outbox (status, claimed_by, claimed_at)"
    )
    db.execute_sql("DROP INDEX IF EXISTS outboxitem_status_claimed_by")
    db.execute_sql("DROP INDEX IF EXISTS outboxitem_next_attempt_at")


# STEPS[i] upgrades a database from version i + 1 to version i + 2.
STEPS: list[Callable[[Database], None]] = [
    _index_outbox_message_id,
    _settings_table,
    _suppression_table,
    _attempts_table,
    _report_indexes,
    _outbox_claims,
    _lifecycle_columns,
    _drop_idle_indexes,
    _typed_events,
    _health_tables,
    _merge_snooze_columns,
    _search_index,
    _customers,
    _send_pace_table,
    _privacy_events,
    _spam,
    _mailbox_budget_index,
    _budget_indexes,
    _claims_index,
    _folder_moves,
    _search_index_groups,
    _drop_outbox_status_index,
    _claim_indexes,
]
CURRENT_VERSION = 1 + len(STEPS)


def schema_version(db: Database) -> int | None:
    """The schema version of ``db``, or None for an empty database."""
    if not db.table_exists(SchemaVersion._meta.table_name):
        return None
    row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return row.version if row else None


MIGRATION_LOCK = 0x6D61696C746978  # pg_advisory_lock key: one migrating worker at a time


def migrate(db: Database) -> int:
    """Bring ``db`` to CURRENT_VERSION; return the version it had before (0 for a new one).

    Several workers may start at once: on PostgreSQL they take turns under an advisory lock
    (on SQLite the IMMEDIATE transaction does the same), and the later ones find the schema done.
    """
    if not isinstance(db, PostgresqlDatabase):
        return _migrate(db)
    db.execute_sql("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        return _migrate(db)
    finally:
        db.execute_sql("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def _new_store_extras(db: Database) -> None:
    """What a new store has beside the models' tables: the full-text index."""
    from mailtix.store.search_index import create_index

    create_index(db)


def _migrate(db: Database) -> int:
    with db.atomic():
        found = schema_version(db)
        if found is None:
            db.create_tables([*ALL_MODELS, SchemaVersion])
            _new_store_extras(db)
            SchemaVersion.create(version=CURRENT_VERSION)
            log.info("created schema version %d", CURRENT_VERSION)
            return 0
    if found > CURRENT_VERSION:
        raise MailtixError(
            f"database schema version {found} is newer than this mailtix ({CURRENT_VERSION}); "
            "upgrade mailtix or use another database"
        )
    for version in range(found, CURRENT_VERSION):
        with db.atomic():
            STEPS[version - 1](db)
            SchemaVersion.update(version=version + 1).execute()
        log.info("upgraded schema to version %d", version + 1)
    return found
