"""First-response and resolution times of the tickets created in the period, and their SLA.

First response: the ticket's ``first_response_at`` (its first relayed agent answer);
resolution: the first status change to resolved (or straight to closed); both as stored up to
the period's end. Percentiles use the nearest-rank
method (the median of 1, 2, 3, 4 is 2). In wall-clock mode everything is computed in SQL with
window functions, so only two rows per group come back; in business-hours mode the (created,
responded, resolved) times of the period's tickets are streamed and measured by the calendar.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from mailtix.domain.vocabulary import DONE_STATUSES, EventType, Field
from mailtix.report.hours import Clock, Targets
from mailtix.report.period import Period
from mailtix.report.sql import Dialect, words

GroupKey = tuple[str, str]  # ("all", "") | ("department", name) | ("agent", email or "")
#                             | ("organisation", name or "")
METRICS = ("first_response", "resolution")
HISTOGRAM = (  # first-response distribution buckets: (label, upper bound in hours)
    ("<1h", 1), ("1-4h", 4), ("4-8h", 8), ("8-24h", 24), ("1-2d", 48), ("2-5d", 120),
    (">5d", None),
)  # fmt: skip


def cohort_sql(d: Dialect) -> str:
    """``WITH d AS (...)``: one row per ticket created in the period, with its times."""
    p = d.p
    return f"""WITH d AS (
  SELECT t.id, t.department AS department, COALESCE(t.assignee, '') AS agent,
         COALESCE(t.organisation, '') AS organisation,
         t.priority AS priority, t.created_at AS created_at,
         CASE WHEN t.first_response_at < {p["until"]} THEN t.first_response_at END AS fr_at,
         (SELECT MIN(e.at) FROM event e WHERE e.ticket_id = t.id
            AND e.type = '{EventType.STATUS.value}' AND e.field = '{Field.STATUS.value}'
            AND e.new_value IN ({words(DONE_STATUSES)}) AND e.at < {p["until"]}) AS res_at
  FROM ticket t WHERE t.merged_into IS NULL AND NOT t.spam
    AND t.created_at >= {p["since"]} AND t.created_at < {p["until"]}
)"""


def cohort_params(period: Period) -> dict[str, Any]:
    return {"since": period.since, "until": period.until}


def _grouped(source: str, column: str) -> str:
    """``source`` rows as (dim, grp, x): once overall, once per department, agent and
    organisation."""
    return (
        f"SELECT 'all' AS dim, '' AS grp, {column} AS x FROM {source} "
        f"UNION ALL SELECT 'department', department, {column} FROM {source} "
        f"UNION ALL SELECT 'agent', agent, {column} FROM {source} "
        f"UNION ALL SELECT 'organisation', organisation, {column} FROM {source}"
    )


def _seconds_cte(d: Dialect) -> str:
    return (
        f", s AS (SELECT department, agent, organisation, priority, "
        f"{d.seconds('created_at', 'fr_at')} AS fr_s, "
        f"{d.seconds('created_at', 'res_at')} AS res_s, "
        f"{d.seconds('created_at', d.p['until'])} AS age_s FROM d)"
    )


def sql_durations(d: Dialect, period: Period) -> dict[GroupKey, dict[str, dict[str, Any]]]:
    """Count, mean, median and p90 (seconds) per group and metric, computed in the database."""
    found: dict[GroupKey, dict[str, dict[str, Any]]] = defaultdict(dict)
    for metric, column in (("first_response", "fr_s"), ("resolution", "res_s")):
        sql = (
            cohort_sql(d) + _seconds_cte(d) + f", v AS ({_grouped('s', column)}), "
            "r AS (SELECT dim, grp, x, ROW_NUMBER() OVER (PARTITION BY dim, grp ORDER BY x) AS rn, "
            "COUNT(*) OVER (PARTITION BY dim, grp) AS n, "
            "AVG(x) OVER (PARTITION BY dim, grp) AS mean "
            "FROM v WHERE x IS NOT NULL) "
            "SELECT dim, grp, n, mean, rn, x FROM r "
            "WHERE rn = (n + 1) / 2 OR rn = (9 * n + 9) / 10"
        )
        for dim, grp, n, mean, rank, x in d.run(sql, cohort_params(period)):
            entry = found[(dim, grp)].setdefault(metric, {"count": int(n), "mean": float(mean)})
            if rank == (n + 1) // 2:
                entry["median"] = float(x)
            if rank == (9 * n + 9) // 10:
                entry["p90"] = float(x)
    return dict(found)


def _target_case(targets: Mapping[str, int]) -> str:
    """``CASE priority WHEN 'urgent' THEN 3600 ... END`` (targets are ints we parsed)."""
    if not targets:
        return "NULL"
    whens = " ".join(f"WHEN '{p}' THEN {int(s)}" for p, s in targets.items() if p.isalpha())
    return f"CASE priority {whens} ELSE NULL END"


def sql_sla(
    d: Dialect, period: Period, targets: Targets
) -> dict[GroupKey, dict[str, dict[str, int]]]:
    """Met / breached / pending per group and metric; an unanswered ticket older than its
    target is breached, a younger one pending."""
    parts = []
    for metric, column in (("fr", "fr_s"), ("res", "res_s")):
        case = _target_case(getattr(targets, "first_response" if metric == "fr" else "resolution"))
        t = f"({case})"
        parts += [
            f"SUM(CASE WHEN {t} IS NOT NULL AND {column} IS NOT NULL AND {column} <= {t} "
            "THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN {t} IS NOT NULL AND (({column} IS NOT NULL AND {column} > {t}) OR "
            f"({column} IS NULL AND age_s > {t})) THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN {t} IS NOT NULL AND {column} IS NULL AND age_s <= {t} "
            "THEN 1 ELSE 0 END)",
        ]
    rows_sql = (
        "SELECT 'all' AS dim, '' AS grp, * FROM s UNION ALL "
        "SELECT 'department', department, * FROM s UNION ALL SELECT 'agent', agent, * FROM s "
        "UNION ALL SELECT 'organisation', organisation, * FROM s"
    )
    sql = (
        cohort_sql(d)
        + _seconds_cte(d)
        + f", g AS ({rows_sql}) SELECT dim, grp, {', '.join(parts)} FROM g GROUP BY dim, grp"
    )
    found: dict[GroupKey, dict[str, dict[str, int]]] = {}
    for dim, grp, *counts in d.run(sql, cohort_params(period)):
        values = [int(c or 0) for c in counts]
        found[(dim, grp)] = {
            "first_response": dict(zip(("met", "breached", "pending"), values[:3], strict=True)),
            "resolution": dict(zip(("met", "breached", "pending"), values[3:], strict=True)),
        }
    return found


def sql_histogram(d: Dialect, period: Period) -> dict[str, int]:
    """How many tickets got their first response within each HISTOGRAM bucket."""
    whens = " ".join(
        f"WHEN fr_s < {hours * 3600} THEN '{label}'" for label, hours in HISTOGRAM if hours
    )
    sql = (
        cohort_sql(d)
        + _seconds_cte(d)
        + f" SELECT CASE {whens} ELSE '{HISTOGRAM[-1][0]}' END AS bucket, COUNT(*) "
        "FROM s WHERE fr_s IS NOT NULL GROUP BY 1"
    )
    counts = dict.fromkeys((label for label, _ in HISTOGRAM), 0)
    for bucket, n in d.run(sql, cohort_params(period)):
        counts[str(bucket)] = int(n)
    return counts


def nearest_rank(values: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted ``values`` (``share`` 0.5 = median)."""
    rank = max(1, -(-int(share * 100) * len(values) // 100))  # ceil(share * n)
    return values[rank - 1]


def histogram_bucket(seconds: float) -> str:
    for label, hours in HISTOGRAM:
        if hours is None or seconds < hours * 3600:
            return label
    return HISTOGRAM[-1][0]


def keys_of(department: str, agent: str, organisation: str = "") -> Iterable[GroupKey]:
    return (
        ("all", ""), ("department", department), ("agent", agent), ("organisation", organisation),
    )  # fmt: skip


def summarise(samples: Mapping[GroupKey, Mapping[str, list[float]]]) -> dict[GroupKey, Any]:
    """Count, mean, median and p90 per group and metric from collected seconds."""
    found: dict[GroupKey, dict[str, dict[str, Any]]] = defaultdict(dict)
    for key, metrics in samples.items():
        for metric, values in metrics.items():
            if values:
                values.sort()
                found[key][metric] = {
                    "count": len(values),
                    "mean": sum(values) / len(values),
                    "median": nearest_rank(values, 0.5),
                    "p90": nearest_rank(values, 0.9),
                }
    return dict(found)


def sla_outcome(seconds: float | None, age: float, target: int | None) -> str | None:
    """ "met", "breached", "pending" or None (no target for this priority)."""
    if target is None:
        return None
    if seconds is not None:
        return "met" if seconds <= target else "breached"
    return "breached" if age > target else "pending"


def business_figures(
    d: Dialect, period: Period, clock: Clock, targets: Targets
) -> tuple[dict[GroupKey, Any], dict[GroupKey, Any], dict[str, int]]:
    """(durations, sla, histogram) measured in business time, streaming the period's tickets."""
    sql = cohort_sql(d) + (
        " SELECT department, agent, organisation, priority, created_at, fr_at, res_at FROM d"
    )
    samples: dict[GroupKey, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    sla: dict[GroupKey, Any] = defaultdict(
        lambda: {m: {"met": 0, "breached": 0, "pending": 0} for m in METRICS}
    )
    histogram = dict.fromkeys((label for label, _ in HISTOGRAM), 0)
    for department, agent, organisation, priority, *times in d.run(sql, cohort_params(period)):
        created, responded, resolved = (_as_datetime(t) for t in times)
        assert created is not None
        age = clock(created, period.until)
        measured = {
            "first_response": clock(created, responded) if responded else None,
            "resolution": clock(created, resolved) if resolved else None,
        }
        if measured["first_response"] is not None:
            histogram[histogram_bucket(measured["first_response"])] += 1
        for key in keys_of(department, agent, organisation):
            for metric, seconds in measured.items():
                if seconds is not None:
                    samples[key][metric].append(seconds)
                target = getattr(targets, metric).get(priority)
                outcome = sla_outcome(seconds, age, target)
                if outcome:
                    sla[key][metric][outcome] += 1
    return summarise(samples), dict(sla), histogram


def _as_datetime(value: object) -> datetime | None:
    """A timestamp from a raw row (SQLite gives Peewee's text, PostgreSQL a datetime)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
