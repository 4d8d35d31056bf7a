"""Health facts in the store: each mailbox's latest poll result and each daemon's heartbeat,
written by the daemon (``runtime.health`` decides when) and read by ``mailtix status``."""

from __future__ import annotations

from datetime import datetime, timedelta

from mailtix.store.models import Heartbeat, MailboxHealth, database_proxy

MAX_ERROR_CHARS = 500
FORGET_AFTER = timedelta(days=7)  # a daemon silent this long is forgotten


def record_poll(mailbox: str, now: datetime, error: str | None, waiting: int | None) -> None:
    """One poll of ``mailbox`` at ``now``: good (``error`` None, ``waiting`` left in its folder)
    or failed with ``error``."""
    with database_proxy.atomic():
        row = MailboxHealth.get_or_none(MailboxHealth.mailbox == mailbox)
        if row is None:
            row = MailboxHealth(mailbox=mailbox)
        row.checked_at = now
        if error is None:
            row.last_success_at, row.failing_since, row.waiting = now, None, waiting
        else:
            row.last_error, row.last_error_at = error[:MAX_ERROR_CHARS], now
            row.failing_since = row.failing_since or now
        row.save()


def beat(worker: str, started_at: datetime, now: datetime, interval: int) -> None:
    """The daemon ``worker`` is alive at ``now`` and beats again within ``interval`` seconds."""
    with database_proxy.atomic():
        updated = (
            Heartbeat.update(beat_at=now, interval=interval, stopped_at=None)
            .where(Heartbeat.worker == worker)
            .execute()
        )
        if not updated:
            Heartbeat.delete().where(Heartbeat.beat_at < now - FORGET_AFTER).execute()
            Heartbeat.create(worker=worker, started_at=started_at, beat_at=now, interval=interval)


def stopped(worker: str, now: datetime) -> None:
    """The daemon ``worker`` stopped cleanly."""
    with database_proxy.atomic():
        Heartbeat.update(stopped_at=now, beat_at=now).where(Heartbeat.worker == worker).execute()


def mailboxes() -> dict[str, MailboxHealth]:
    return {row.mailbox: row for row in MailboxHealth.select()}


def heartbeats() -> list[Heartbeat]:
    """Every daemon that ever beat in this store, the latest first."""
    return list(Heartbeat.select().order_by(Heartbeat.beat_at.desc()))
