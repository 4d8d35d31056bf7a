"""The schema step of the agents' workflow: an older store gains ``merged_into`` and
``snoozed_until`` and keeps its tickets."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from mailtix.store import migrations, open_store
from mailtix.store.migrations import CURRENT_VERSION, schema_version
from mailtix.store.models import SchemaVersion, Ticket

NOW = datetime(2026, 11, 23, 10)


def test_older_store_gains_the_merge_and_snooze_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = open_store(url)
    Ticket.create(subject="Printer", department="general", customer="carol@example.org",
                  mailbox="support", created_at=NOW, updated_at=NOW)  # fmt: skip
    for column in ("merged_into", "snoozed_until"):
        db.execute_sql(f"ALTER TABLE ticket DROP COLUMN {column}")
    SchemaVersion.update(
        version=migrations.STEPS.index(migrations._merge_snooze_columns) + 1
    ).execute()
    db.close()

    db = open_store(url)
    try:
        assert schema_version(db) == CURRENT_VERSION
        columns = {c.name for c in db.get_columns("ticket")}
        assert {"merged_into", "snoozed_until"} <= columns
        [kept] = Ticket.select()
        assert (kept.subject, kept.merged_into, kept.snoozed_until) == ("Printer", None, None)
    finally:
        db.close()
