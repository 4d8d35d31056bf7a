"""Who gets a new ticket: a named agent, or round-robin over the department's agents not away.

Round-robin picks the agent whose last assignment in the department is the oldest (never
assigned first), so it persists across restarts without extra state.
"""

from __future__ import annotations

from peewee import fn

from mailtix.config import Config
from mailtix.store.models import Ticket


def pick_assignee(config: Config, department: str, assign: str | None) -> str | None:
    if assign is None:
        return None
    if assign != "round-robin":
        return assign
    dept = config.department(department)
    if dept is None:
        return None
    candidates = [a for a in dept.agents if not _away(config, a)]
    if not candidates:
        return None
    rows = (
        Ticket.select(Ticket.assignee, fn.MAX(Ticket.id))
        .where((Ticket.department == department) & Ticket.assignee.in_(candidates))
        .group_by(Ticket.assignee)
        .tuples()
        .iterator()
    )
    last: dict[str, int] = {str(row[0]): int(row[1]) for row in rows}
    return min(candidates, key=lambda agent: (last.get(agent, 0), candidates.index(agent)))


def _away(config: Config, email: str) -> bool:
    agent = config.agent(email)
    return bool(agent and agent.away)
