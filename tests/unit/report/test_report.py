"""Report figures against a hand-computable store: five tickets in the week of Monday
2026-03-02 (UTC) with known times, and one older ticket still open."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from peewee import Database
from support.config import small_config

from mailtix.config.lifecycle import SlaConfig
from mailtix.config.load import load_config
from mailtix.domain.vocabulary import Field
from mailtix.lifecycle.changes import change
from mailtix.report import build_report, durations
from mailtix.report.period import Period, parse_period
from mailtix.report.sql import Dialect
from mailtix.store import open_store
from mailtix.store.models import Message, Ticket
from mailtix.store.tickets import add_event

UTC_ZONE = ZoneInfo("UTC")
SINCE, UNTIL = datetime(2026, 3, 2), datetime(2026, 3, 9)
SLA = """
[sla]
business_hours = "always"
[sla.first_response]
urgent = "1h"
normal = "3h"
[sla.resolution]
normal = "1d"
"""


def config_file(tmp_path: Path, extra: str = SLA) -> Path:
    tickets = '[tickets]\nmessage_id_domain = "example.org"\n'
    return small_config(tmp_path, address="support@example.org", extra=tickets + extra)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute)


def ticket(
    created: datetime,
    department: str,
    agent: str | None,
    priority: str = "normal",
    answered: datetime | None = None,
    resolved: datetime | None = None,
    satisfaction: int | None = None,
) -> Ticket:
    row = Ticket.create(
        subject="secret subject", customer="c@example.org", mailbox="support",
        department=department, assignee=agent, priority=priority, created_at=created,
        updated_at=created, satisfaction=satisfaction, first_response_at=answered,
    )  # fmt: skip
    Message.create(ticket=row, direction="in", kind="customer", created_at=created)
    add_event(row, "created", "from c@example.org", created)
    if answered:
        Message.create(ticket=row, direction="out", kind="agent", created_at=answered)
        Message.create(ticket=row, direction="out", kind="agent", created_at=answered + ONE_H)
        set_status(row, "open", answered, why="answer", actor=agent or "")
    if resolved:
        set_status(row, "resolved", resolved, why="done", actor=agent or "")
    return row


ONE_H = timedelta(hours=1)


def set_status(row: Ticket, status: str, now: datetime, *, why: str, actor: str) -> None:
    change(row, Field.STATUS, status, now, sla=SlaConfig(), actor=actor, reason=why)


def fill() -> None:
    """The hand-computable week (see the tests for what each ticket contributes)."""
    ticket(at(2, 9), "general", "alice@example.com", "urgent", at(2, 10), at(2, 13), 5)  # T1
    ticket(at(2, 10), "general", "alice@example.com", "normal", at(2, 12), at(3, 10), 3)  # T2
    t3 = ticket(at(3, 9), "billing", "bob@example.com", "normal", at(3, 13), at(4, 9))
    set_status(t3, "open", at(4, 12), why="customer replied", actor="c@example.org")
    add_event(t3, "reopened", "reply", at(4, 12))
    ticket(at(4, 9), "billing", None)  # T4: never answered
    ticket(at(5, 9), "general", "bob@example.com", "low", at(5, 17))  # T5: answered, open
    old = ticket(datetime(2026, 2, 20, 9), "general", "alice@example.com")  # before the period
    add_event(old, "sla", "first response breached", at(3, 9))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    store = open_store(f"sqlite:///{tmp_path / 'report.db'}")
    fill()
    yield store
    store.close()


def report(db: Database, tmp_path: Path, extra: str = SLA, tz: str = "UTC") -> dict[str, Any]:
    config = load_config(config_file(tmp_path, extra))
    return build_report(db, config, Period(SINCE, UNTIL, ZoneInfo(tz)), UNTIL)


def test_counts_backlog_and_satisfaction(db: Database, tmp_path: Path) -> None:
    overall = report(db, tmp_path)["overall"]
    assert (overall["created"], overall["resolved"], overall["reopened"]) == (5, 3, 1)
    assert overall["backlog"] == 4  # T3 (reopened), T4, T5 and the old one
    assert overall["satisfaction"] == {
        "responses": 2,
        "average": 4.0,
        "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1},
    }
    assert overall["sla"]["escalations"] == 1


def test_first_response_and_resolution_percentiles(db: Database, tmp_path: Path) -> None:
    overall = report(db, tmp_path)["overall"]
    # first agent answers after 1, 2, 4 and 8 hours (nearest rank: median 2nd, p90 4th)
    assert overall["first_response"] == {
        "count": 4, "median_hours": 2.0, "p90_hours": 8.0, "average_hours": 3.75,
    }  # fmt: skip
    # first resolution after 4, 24 and 24 hours (the reopened T3 keeps its first one)
    assert overall["resolution"] == {
        "count": 3, "median_hours": 24.0, "p90_hours": 24.0, "average_hours": 17.33,
    }  # fmt: skip


def test_sla_met_breached_pending(db: Database, tmp_path: Path) -> None:
    sla = report(db, tmp_path)["overall"]["sla"]
    # first response: T1 1h<=1h met, T2 2h<=3h met, T3 4h>3h and T4 unanswered: breached;
    # T5 is "low", which has no target
    assert sla["first_response"] == {"met": 2, "breached": 2, "pending": 0}
    # resolution (normal 1d): T2 and T3 took exactly 24h, T4 is 4.6 days old and unresolved
    assert sla["resolution"] == {"met": 2, "breached": 1, "pending": 0}


def test_by_department_and_agent(db: Database, tmp_path: Path) -> None:
    data = report(db, tmp_path)
    departments = {d["department"]: d for d in data["by_department"]}
    assert set(departments) == {"billing", "general"}
    general, billing = departments["general"], departments["billing"]
    assert (general["created"], general["resolved"], general["backlog"]) == (3, 2, 2)
    assert general["first_response"]["median_hours"] == 2.0
    assert general["first_response"]["p90_hours"] == 8.0
    assert (billing["created"], billing["reopened"], billing["backlog"]) == (2, 1, 2)
    agents = {a["agent"]: a for a in data["by_agent"]}
    assert set(agents) == {None, "alice@example.com", "bob@example.com"}
    assert agents["alice@example.com"]["satisfaction"]["average"] == 4.0
    assert agents["bob@example.com"]["first_response"]["count"] == 2
    assert agents[None]["created"] == 1


def test_backlog_age_histogram_and_volume(db: Database, tmp_path: Path) -> None:
    data = report(db, tmp_path)
    assert data["backlog_by_age"] == {"<1d": 0, "1-3d": 0, "3-7d": 3, "7-30d": 1, ">30d": 0}
    assert data["first_response_histogram"] == {
        "<1h": 0, "1-4h": 2, "4-8h": 1, "8-24h": 1, "1-2d": 0, "2-5d": 0, ">5d": 0,
    }  # fmt: skip
    days = {d["date"]: (d["created"], d["resolved"]) for d in data["by_day"]}
    assert len(days) == 7
    assert days["2026-03-02"] == (2, 1)
    assert days["2026-03-03"] == (1, 1)
    assert days["2026-03-04"] == (1, 1)
    assert days["2026-03-05"] == (1, 0)
    grid = data["by_hour_of_week"]
    assert grid[0][9] == grid[0][10] == grid[1][9] == grid[2][9] == grid[3][9] == 1
    assert sum(map(sum, grid)) == 5


def test_days_are_counted_in_the_report_time_zone(db: Database, tmp_path: Path) -> None:
    Ticket.create(
        subject="late", customer="c@example.org", mailbox="support", department="general",
        created_at=at(2, 23, 30), updated_at=at(2, 23, 30),
    )  # fmt: skip
    days = {d["date"]: d["created"] for d in report(db, tmp_path, tz="Europe/Berlin")["by_day"]}
    assert days["2026-03-03"] == 2  # 23:30 UTC is 00:30 in Berlin


def test_business_hours_path_agrees_with_sql_on_a_wall_clock(db: Database) -> None:
    """The streaming path (used with a calendar) gives what the SQL path gives."""
    period = Period(SINCE, UNTIL, UTC_ZONE)
    d = Dialect(db)
    targets = durations.Targets({"urgent": 3600, "normal": 3 * 3600}, {"normal": 86400})

    def wall(a: datetime, b: datetime) -> float:
        return (b - a).total_seconds()

    times, sla, histogram = durations.business_figures(d, period, wall, targets)
    sql_times = durations.sql_durations(d, period)
    for key, metrics in sql_times.items():
        for metric, values in metrics.items():
            for name in ("count", "median", "p90"):
                assert times[key][metric][name] == pytest.approx(values[name], abs=1), key
    assert sla == durations.sql_sla(d, period, targets)
    assert histogram == durations.sql_histogram(d, period)


def test_business_clock_measures_durations(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a calendar, durations are what the calendar says (here: half the wall clock)."""
    from mailtix.report import build

    monkeypatch.setattr(
        build, "business_clock", lambda config: lambda a, b: (b - a).total_seconds() / 2
    )
    data = report(db, tmp_path)
    assert data["hours"] == "business"
    assert data["overall"]["first_response"]["median_hours"] == 1.0
    assert data["overall"]["resolution"]["p90_hours"] == 12.0


def test_period_parsing() -> None:
    now = datetime(2026, 3, 9, 12, 30, 15, 500)
    default = parse_period(None, None, now, UTC_ZONE)
    assert (default.since, default.until) == (  # whole seconds, "now" included
        datetime(2026, 2, 7, 12, 30, 16),
        datetime(2026, 3, 9, 12, 30, 16),
    )
    on_the_second = datetime(2026, 3, 9, 12, 30, 15)
    assert parse_period(None, None, on_the_second, UTC_ZONE).until == on_the_second
    berlin = parse_period("2026-03-02", "2026-03-09T08:00", now, ZoneInfo("Europe/Berlin"))
    assert berlin.since == datetime(2026, 3, 1, 23, 0)
    assert berlin.until == datetime(2026, 3, 9, 7, 0)
    from mailtix.domain.errors import UsageError

    with pytest.raises(UsageError, match="--since"):
        parse_period("yesterday", None, now, UTC_ZONE)
    with pytest.raises(UsageError, match="before"):
        parse_period("2026-03-09", "2026-03-02", now, UTC_ZONE)


def test_empty_store_gives_zeroes_not_errors(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    data = report(store, tmp_path)
    assert data["overall"]["created"] == 0
    assert data["overall"]["first_response"]["median_hours"] is None
    assert data["by_department"] == [] and data["by_agent"] == []
    store.close()


@pytest.mark.postgres
def test_postgres_gives_the_same_report(postgres_url: str, tmp_path: Path) -> None:
    """The dialect helper's other half: the same figures from PostgreSQL."""
    from mailtix.store.models import ALL_MODELS, SchemaVersion

    def drop(db: Database) -> None:
        db.drop_tables([*ALL_MODELS, SchemaVersion], safe=True, cascade=True)

    lite = open_store(f"sqlite:///{tmp_path / 'report.db'}")
    fill()
    expected = report(lite, tmp_path, tz="Europe/Berlin")
    lite.close()
    pg = open_store(postgres_url, upgrade=False)
    drop(pg)
    pg.close()
    pg = open_store(postgres_url)
    try:
        fill()
        assert report(pg, tmp_path, tz="Europe/Berlin") == expected
    finally:
        drop(pg)
        pg.close()
