"""Counts for a period, aggregated in the database and rolled up here: each query returns a
handful of rows per (department, agent) pair, never one row per ticket.

Departments and agents are the ticket's current ones; "" is an unassigned ticket. The
organisation is the one the ticket was opened for; "" is none.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from mailtix.domain.vocabulary import DONE_STATUSES, OPEN_STATUSES, EventType, Status
from mailtix.report.durations import GroupKey, keys_of
from mailtix.report.period import Period
from mailtix.report.sql import Dialect, words

AGE_BUCKETS = (("<1d", 1), ("1-3d", 3), ("3-7d", 7), ("7-30d", 30), (">30d", None))
COUNTS = ("created", "resolved", "reopened", "backlog", "escalations")


STATUS_EVENT = f"type = '{EventType.STATUS.value}'"
#: A status change that resolves a ticket (straight to closed too, not resolved -> closed).
RESOLVING = f"new_value IN ({words(DONE_STATUSES)}) AND old_value <> '{Status.RESOLVED.value}'"
#: A status change from resolved or closed back to new, open or pending.
REOPENING = f"old_value IN ({words(DONE_STATUSES)}) AND new_value IN ({words(OPEN_STATUSES)})"
BACKLOG = f"t.status IN ({words(OPEN_STATUSES)})"
#: Not merged into another ticket (``#merge``): reports count the surviving ticket only; nor
#: marked spam by an agent (``#spam``).
SURVIVING = "t.merged_into IS NULL AND NOT t.spam"


def _params(period: Period) -> dict[str, Any]:
    return {"since": period.since, "until": period.until}


def count_queries(d: Dialect) -> dict[str, str]:
    """One query per count, each giving (department, agent, organisation, n) rows."""
    p = d.p
    in_period = f">= {p['since']} AND {{col}} < {p['until']}"
    ticket_cols = "t.department, COALESCE(t.assignee, ''), COALESCE(t.organisation, '')"
    event_join = (
        f"FROM event e JOIN ticket t ON t.id = e.ticket_id WHERE {SURVIVING} AND e.at {in_period}"
    )
    event_join = event_join.format(col="e.at")
    return {
        "created": f"SELECT {ticket_cols}, COUNT(*) FROM ticket t "
        f"WHERE {SURVIVING} AND t.created_at {in_period.format(col='t.created_at')} "
        "GROUP BY 1, 2, 3",
        "resolved": f"SELECT {ticket_cols}, COUNT(DISTINCT e.ticket_id) {event_join} "
        f"AND e.{STATUS_EVENT} AND {RESOLVING} GROUP BY 1, 2, 3",
        "reopened": f"SELECT {ticket_cols}, COUNT(*) {event_join} AND e.{STATUS_EVENT} "
        f"AND {REOPENING} GROUP BY 1, 2, 3",
        "backlog": f"SELECT {ticket_cols}, COUNT(*) FROM ticket t WHERE {BACKLOG} "
        f"AND t.created_at < {p['until']} GROUP BY 1, 2, 3",
        "escalations": f"SELECT {ticket_cols}, COUNT(*) {event_join} "
        f"AND e.type = '{EventType.SLA.value}' GROUP BY 1, 2, 3",
    }


def counts(d: Dialect, period: Period) -> dict[GroupKey, Counter[str]]:
    """created, resolved, reopened, backlog and SLA escalations per group."""
    found: dict[GroupKey, Counter[str]] = defaultdict(Counter)
    params = _params(period)
    for name, sql in count_queries(d).items():
        for department, agent, organisation, n in d.run(sql, params):
            for key in keys_of(department, agent, organisation):
                found[key][name] += int(n)
    return dict(found)


def backlog_by_age(d: Dialect, period: Period) -> dict[str, int]:
    """Tickets still new/open/pending, created before the period's end, by age at that end."""
    age = d.seconds("t.created_at", d.p["until"])
    whens = " ".join(
        f"WHEN {age} < {days * 86400} THEN '{label}'" for label, days in AGE_BUCKETS if days
    )
    sql = (
        f"SELECT CASE {whens} ELSE '{AGE_BUCKETS[-1][0]}' END, COUNT(*) FROM ticket t "
        f"WHERE {BACKLOG} AND t.created_at < {d.p['until']} "
        "GROUP BY 1"
    )
    found = dict.fromkeys((label for label, _ in AGE_BUCKETS), 0)
    for bucket, n in d.run(sql, {"until": period.until}):
        found[str(bucket)] = int(n)
    return found


def satisfaction(d: Dialect, period: Period) -> dict[GroupKey, Counter[int]]:
    """Survey answers (1-5) of the tickets created in the period, per group."""
    p = d.p
    sql = (
        "SELECT t.department, COALESCE(t.assignee, ''), COALESCE(t.organisation, ''), "
        "t.satisfaction, COUNT(*) FROM ticket t "
        f"WHERE {SURVIVING} AND t.created_at >= {p['since']} AND t.created_at < {p['until']} "
        "AND t.satisfaction IS NOT NULL GROUP BY 1, 2, 3, 4"
    )
    found: dict[GroupKey, Counter[int]] = defaultdict(Counter)
    for department, agent, organisation, score, n in d.run(sql, _params(period)):
        for key in keys_of(department, agent, organisation):
            found[key][int(score)] += int(n)
    return dict(found)


def hourly(d: Dialect, period: Period) -> tuple[Counter[datetime], Counter[datetime]]:
    """(created, resolved) per UTC hour of the period: at most 24 rows a day each."""
    p = d.p
    created = (
        f"SELECT {d.hour_bucket('created_at')}, COUNT(*) FROM ticket "
        f"WHERE merged_into IS NULL AND NOT spam AND created_at >= {p['since']} "
        f"AND created_at < {p['until']} GROUP BY 1"
    )
    resolved = (
        f"SELECT {d.hour_bucket('at')}, COUNT(*) FROM event WHERE {STATUS_EVENT} "
        f"AND at >= {p['since']} AND at < {p['until']} AND {RESOLVING} "
        "AND ticket_id NOT IN (SELECT id FROM ticket WHERE merged_into IS NOT NULL OR spam) "
        "GROUP BY 1"
    )
    return _buckets(d.run(created, _params(period))), _buckets(d.run(resolved, _params(period)))


def _buckets(rows: Iterable[tuple[Any, ...]]) -> Counter[datetime]:
    return Counter({datetime.strptime(str(b), "%Y-%m-%d %H"): int(n) for b, n in rows})


def by_day(
    period: Period, created: Counter[datetime], resolved: Counter[datetime]
) -> list[dict[str, Any]]:
    """Every local day of the period (also the quiet ones) with created and resolved counts."""
    days: dict[str, dict[str, Any]] = {}
    day = period.local(period.since).date()
    last = period.local(period.until - timedelta(microseconds=1)).date()
    while day <= last:
        days[day.isoformat()] = {"date": day.isoformat(), "created": 0, "resolved": 0}
        day += timedelta(days=1)
    for name, hours in (("created", created), ("resolved", resolved)):
        for hour, n in hours.items():
            local = period.local(hour).date().isoformat()
            if local in days:
                days[local][name] += n
    return list(days.values())


def by_hour_of_week(period: Period, created: Counter[datetime]) -> list[list[int]]:
    """Tickets created per local weekday (Monday first) and hour: 7 lists of 24 counts."""
    grid = [[0] * 24 for _ in range(7)]
    for hour, n in created.items():
        local = period.local(hour)
        grid[local.weekday()][local.hour] += n
    return grid
