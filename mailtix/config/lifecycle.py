"""The ``[lifecycle]``, ``[sla]`` and ``[survey]`` sections: checked with the rest of the config
(one line per problem, "mailtix.toml: sla.timezone: unknown time zone ...") and read into
frozen ``LifecycleConfig``, ``SlaConfig`` and ``SurveyConfig``.

SLA durations are "30m", "4h" or "2d"; a "d" is one business day's worth of business time
(the average length of an open day: 8 h for "Mon-Fri 09:00-17:00", 24 h for "always").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from mailtix.config.reader import Problems, Reader, is_email, show
from mailtix.config.schema import key, keys, read_keys
from mailtix.domain.business_hours import (
    Calendar,
    CalendarError,
    parse_holidays,
    parse_hours,
    parse_zone,
)
from mailtix.domain.vocabulary import PRIORITIES

STATUS_MAILS = ("open", "pending", "resolved", "closed", "reopened")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd])\s*$")


@dataclass(frozen=True)
class LifecycleConfig:
    pending_autoresolve_days: int = key(7, low=0, high=3650)  # 0 = never
    resolved_autoclose_days: int = key(3, low=0, high=3650)  # 0 = never
    reopen_closed_days: int = key(30, low=0, high=3650)  # 0 = a reply always reopens
    pending_reminder_days: int = key(3, low=0, high=3650)  # 0 = no reminder
    status_mails: tuple[str, ...] = key(("resolved", "closed", "reopened"), "list")


@dataclass(frozen=True)
class SlaKeys:
    """The keys of ``[sla]``; they are read into a ``SlaConfig`` (a calendar and targets)."""

    business_hours: str = key("always")
    timezone: str = key("UTC")
    holidays: tuple[str, ...] = key((), "list")
    warn_before: str = key("0")
    lead: str | None = key(None, "text")
    first_response: None = key(None, "table")
    resolution: None = key(None, "table")


@dataclass(frozen=True)
class SlaConfig:
    calendar: Calendar = field(default_factory=Calendar)
    first_response: Mapping[str, timedelta] = field(default_factory=dict)
    resolution: Mapping[str, timedelta] = field(default_factory=dict)
    warn_before: timedelta = timedelta(0)  # 0: escalate on breach only
    lead: str | None = None

    def business_time_between(self, a: Any, b: Any) -> timedelta:
        """The calendar's business time (so the report can use ``config.sla`` directly)."""
        return self.calendar.business_time_between(a, b)


@dataclass(frozen=True)
class SurveyConfig:
    enabled: bool = key(False)


def parse_duration(text: object, day: timedelta) -> timedelta | None:
    """ "30m", "4h", "2d" (``day`` long each) or 0 as a timedelta; None when unreadable."""
    if text == 0 or text == "0":
        return timedelta(0)
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    amount, unit = float(match[1]), match[2]
    return day * amount if unit == "d" else timedelta(minutes=amount * (60 if unit == "h" else 1))


def load_lifecycle(
    sections: Mapping[str, Mapping[str, Any]], file: str, problems: Problems
) -> tuple[LifecycleConfig, SlaConfig, SurveyConfig]:
    """The three sections, adding one problem line per bad value (defaults stand in)."""

    def reader(name: str, cls: type) -> Reader:
        return Reader(problems, file, name, sections.get(name, {}), keys(cls))

    lifecycle = _lifecycle(reader("lifecycle", LifecycleConfig))
    sla = _sla(reader("sla", SlaKeys))
    return lifecycle, sla, SurveyConfig(**read_keys(SurveyConfig, reader("survey", SurveyConfig)))


def _lifecycle(reader: Reader) -> LifecycleConfig:
    days = read_keys(LifecycleConfig, reader)
    mails = LifecycleConfig.status_mails
    if reader.has("status_mails"):
        value = reader.raw("status_mails")
        if isinstance(value, list) and all(v in STATUS_MAILS for v in value):
            mails = tuple(str(v) for v in value)
        else:
            reader.problem(
                "status_mails", f"must be a list of {' | '.join(STATUS_MAILS)}, got {show(value)}"
            )
    return LifecycleConfig(status_mails=mails, **days)


def _calendar(reader: Reader) -> Calendar:
    hours, zone = None, Calendar().zone
    holidays: frozenset[date] = frozenset()
    for name in ("business_hours", "timezone", "holidays"):
        if not reader.has(name):
            continue
        value = reader.raw(name)
        try:
            if name == "business_hours" and not isinstance(value, str):
                reader.problem(
                    name, f'must be a string like "Mon-Fri 09:00-17:00", got {show(value)}'
                )
            elif name == "business_hours":
                hours = parse_hours(str(value))
            elif name == "timezone":
                zone = parse_zone(value)
            elif isinstance(value, list):
                holidays = parse_holidays(value)
            else:
                reader.problem(
                    name, f'must be a list of dates like ["2026-12-25"], got {show(value)}'
                )
        except CalendarError as exc:
            reader.problem(name, str(exc))
    calendar = Calendar(hours, zone, holidays)
    if calendar.day_length <= timedelta(0):
        reader.problem("business_hours", "has no opening hours on any day")
        return Calendar(None, zone, holidays)
    return calendar


def _targets(reader: Reader, name: str, day: timedelta) -> dict[str, timedelta]:
    raw = reader.raw(name)
    if not reader.has(name):
        return {}
    table = Reader(reader.problems, reader.file, reader.key(name), raw, PRIORITIES)
    found: dict[str, timedelta] = {}
    for priority in PRIORITIES:
        if not table.has(priority):
            continue
        value = parse_duration(table.raw(priority), day)
        if value is None or value <= timedelta(0):
            table.problem(priority, f'must be a duration like "30m", "4h" or "2d", '
                          f"got {show(table.raw(priority))}")  # fmt: skip
        else:
            found[priority] = value
    return found


def _sla(reader: Reader) -> SlaConfig:
    calendar = _calendar(reader)
    day = calendar.day_length
    warn = timedelta(0)
    if reader.has("warn_before"):
        parsed = parse_duration(reader.raw("warn_before"), day)
        if parsed is None:
            reader.problem("warn_before", f'must be a duration like "1h" or "0", got '
                           f"{show(reader.raw('warn_before'))}")  # fmt: skip
        warn = parsed or timedelta(0)
    lead = reader.text("lead").strip().lower() or None
    if lead is not None and not is_email(lead):
        reader.problem("lead", f'must be an email address, got "{lead}"')
        lead = None
    return SlaConfig(
        calendar=calendar,
        first_response=_targets(reader, "first_response", day),
        resolution=_targets(reader, "resolution", day),
        warn_before=warn,
        lead=lead,
    )
