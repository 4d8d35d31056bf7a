"""SLA targets on tickets: due times from the ticket's priority and creation time (in business
time, ``[sla]``), and which targets are breached, or about to be, at a given moment.

Pure (``changes`` writes the due times onto the ticket row). Store times are naive UTC; the
calendar works in aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mailtix.config.lifecycle import SlaConfig
from mailtix.domain.vocabulary import OPEN_STATUSES
from mailtix.store.models import Ticket

LABELS = {"first_response": "first response", "resolution": "resolution"}


@dataclass(frozen=True)
class Alert:
    """One SLA target of one ticket that needs an escalation mail."""

    target: str  # first_response | resolution
    state: str  # breached | warning
    due: datetime  # naive UTC

    @property
    def due_text(self) -> str:
        """ "due 2026-11-23T10:00:00": with target and state, what makes this alert unique on
        its ticket (the ``sla`` event's reason)."""
        return f"due {self.due.isoformat(timespec='seconds')}"

    @property
    def key(self) -> str:
        """The start of the ``sla`` event's detail."""
        return f"{self.target} {self.state} ({self.due_text})"

    @property
    def title(self) -> str:
        what = LABELS[self.target]
        return f"SLA {what} breached" if self.state == "breached" else f"SLA {what} due soon"


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def due_time(created: datetime, target: timedelta | None, sla: SlaConfig) -> datetime | None:
    """When a target of ``target`` business time runs out for a ticket created at ``created``
    (naive UTC); None when the priority has no target."""
    if target is None:
        return None
    return _naive(sla.calendar.add_business_time(created.replace(tzinfo=UTC), target))


def due_times(
    created: datetime, priority: str, sla: SlaConfig
) -> tuple[datetime | None, datetime | None]:
    """(first-response due, resolution due) for a ticket of ``priority``."""
    return (
        due_time(created, sla.first_response.get(priority), sla),
        due_time(created, sla.resolution.get(priority), sla),
    )


def alerts(ticket: Ticket, sla: SlaConfig, now: datetime) -> list[Alert]:
    """The targets of an unfinished ticket that are breached at ``now`` (naive UTC), or that
    have at most ``warn_before`` business time left. A snoozed ticket has none until it wakes:
    the agent put it aside on purpose, and a target missed meanwhile is raised when it opens."""
    if ticket.status not in OPEN_STATUSES:
        return []
    if ticket.snoozed_until is not None and now < ticket.snoozed_until:
        return []
    found: list[Alert] = []
    for target, due, done in (
        ("first_response", ticket.first_response_due, ticket.first_response_at),
        ("resolution", ticket.resolution_due, None),
    ):
        if due is None or done is not None:
            continue
        if now >= due:
            found.append(Alert(target, "breached", due))
        elif sla.warn_before > timedelta(0):
            left = sla.calendar.business_time_between(
                now.replace(tzinfo=UTC), due.replace(tzinfo=UTC)
            )
            if left <= sla.warn_before:
                found.append(Alert(target, "warning", due))
    return found


def local_time(value: datetime | None, sla: SlaConfig) -> str:
    """A stored time as "2026-11-23 10:00 CET" in the SLA time zone ("-" for None)."""
    if value is None:
        return "-"
    return value.replace(tzinfo=UTC).astimezone(sla.calendar.zone).strftime("%Y-%m-%d %H:%M %Z")
