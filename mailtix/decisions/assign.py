"""Who gets a new ticket: a named agent, or a strategy over the department's agents not away.

- ``round-robin``: the agent whose last assignment in the department is the oldest (never
  assigned first). It is derived from the tickets themselves, so it persists across restarts
  and across several workers without extra state.
- ``least-open``: the agent with the fewest tickets in status new/open/pending (any
  department); ties go to the round-robin order.
"""

from __future__ import annotations

from peewee import fn

from mailtix.config.model import Config
from mailtix.domain.vocabulary import OPEN_STATUSES
from mailtix.store.models import Ticket


def pick_assignee(config: Config, department: str, assign: str | None) -> str | None:
    if assign is None:
        return None
    if assign not in ("round-robin", "least-open"):
        return assign
    candidates = config.available_agents(department)
    if not candidates:
        return None
    last = _last_assigned(department, candidates)
    order = {agent: (last.get(agent, 0), i) for i, agent in enumerate(candidates)}
    if assign == "least-open":
        open_counts = _open_counts(candidates)
        return min(candidates, key=lambda agent: (open_counts.get(agent, 0), order[agent]))
    return min(candidates, key=lambda agent: order[agent])


def _last_assigned(department: str, candidates: list[str]) -> dict[str, int]:
    rows = (
        Ticket.select(Ticket.assignee, fn.MAX(Ticket.id))
        .where((Ticket.department == department) & Ticket.assignee.in_(candidates))
        .group_by(Ticket.assignee)
        .tuples()
        .iterator()
    )
    return {str(row[0]): int(row[1]) for row in rows}


def _open_counts(candidates: list[str]) -> dict[str, int]:
    rows = (
        Ticket.select(Ticket.assignee, fn.COUNT(Ticket.id))
        .where(Ticket.assignee.in_(candidates) & Ticket.status.in_(OPEN_STATUSES))
        .group_by(Ticket.assignee)
        .tuples()
        .iterator()
    )
    return {str(row[0]): int(row[1]) for row in rows}
