"""Assemble the report: run the figure queries for a period and shape the stable JSON document
that every format renders (the keys are documented in README.md, "Reporting")."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from peewee import Database

from mailtix.config.model import Config
from mailtix.domain.clock import iso
from mailtix.report import durations, figures
from mailtix.report.agent_privacy import apply_agent_policy
from mailtix.report.durations import GroupKey
from mailtix.report.hours import Targets, business_clock, sla_targets
from mailtix.report.period import Period
from mailtix.report.sql import Dialect

SCHEMA_VERSION = 1


def build_report(db: Database, config: Config, period: Period, now: datetime) -> dict[str, Any]:
    """Every figure for ``period`` as the report's JSON document."""
    d = Dialect(db)
    targets = sla_targets(config)
    clock = business_clock(config)
    if clock is None:
        times = durations.sql_durations(d, period)
        sla = durations.sql_sla(d, period, targets) if targets.configured else {}
        histogram = durations.sql_histogram(d, period)
    else:
        times, sla, histogram = durations.business_figures(d, period, clock, targets)
    counts = figures.counts(d, period)
    scores = figures.satisfaction(d, period)
    created, resolved = figures.hourly(d, period)
    keys = set(counts) | set(times) | set(scores)

    def stats(key: GroupKey) -> dict[str, Any]:
        return _stats(counts.get(key, Counter()), times.get(key, {}), sla.get(key), scores.get(key))

    def groups(dim: str, label: str) -> list[dict[str, Any]]:
        names = sorted(grp for kind, grp in keys if kind == dim)
        return [{label: name or None, **stats((dim, name))} for name in names]

    document = {
        "schema": SCHEMA_VERSION,
        "generated_at": iso(now),
        "period": {
            "since": iso(period.since),
            "until": iso(period.until),
            "timezone": str(period.timezone),
        },
        "hours": "business" if clock else "wall-clock",
        "sla_targets": _targets(targets),
        "overall": stats(("all", "")),
        "backlog_by_age": figures.backlog_by_age(d, period),
        "first_response_histogram": histogram,
        "by_department": groups("department", "department"),
        "by_agent": groups("agent", "agent"),
        "by_organisation": groups("organisation", "organisation"),
        "by_day": figures.by_day(period, created, resolved),
        "by_hour_of_week": figures.by_hour_of_week(period, created),
    }
    return apply_agent_policy(document, config)  # [privacy] agent_reports


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def _duration(found: Mapping[str, Any] | None) -> dict[str, Any]:
    found = found or {}
    return {
        "count": int(found.get("count", 0)),
        "median_hours": _hours(found.get("median")),
        "p90_hours": _hours(found.get("p90")),
        "average_hours": _hours(found.get("mean")),
    }


def _satisfaction(scores: Counter[int] | None) -> dict[str, Any]:
    scores = scores or Counter()
    responses = sum(scores.values())
    total = sum(score * n for score, n in scores.items())
    return {
        "responses": responses,
        "average": round(total / responses, 2) if responses else None,
        "distribution": {str(score): scores.get(score, 0) for score in range(1, 6)},
    }


def _stats(
    counts: Counter[str],
    times: Mapping[str, Any],
    sla: Mapping[str, Any] | None,
    scores: Counter[int] | None,
) -> dict[str, Any]:
    empty = {"met": 0, "breached": 0, "pending": 0}
    return {
        **{name: int(counts.get(name, 0)) for name in figures.COUNTS if name != "escalations"},
        "first_response": _duration(times.get("first_response")),
        "resolution": _duration(times.get("resolution")),
        "sla": {
            "first_response": dict((sla or {}).get("first_response", empty)),
            "resolution": dict((sla or {}).get("resolution", empty)),
            "escalations": int(counts.get("escalations", 0)),
        },
        "satisfaction": _satisfaction(scores),
    }


def _targets(targets: Targets) -> dict[str, dict[str, float]]:
    return {
        "first_response": {p: _hours(s) or 0.0 for p, s in targets.first_response.items()},
        "resolution": {p: _hours(s) or 0.0 for p, s in targets.resolution.items()},
    }
