"""Time in one place: naive-UTC ``now`` for the store, with an injectable override for tests."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now as a naive UTC datetime (how the store keeps time)."""
    return datetime.now(UTC).replace(tzinfo=None)


def iso(value: datetime | None) -> str | None:
    """A stored naive-UTC datetime as ISO 8601 with +00:00, or None."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC, microsecond=0).isoformat()
