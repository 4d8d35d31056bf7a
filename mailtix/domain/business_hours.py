"""Business-hours arithmetic: a pure calendar of weekly opening hours in a time zone, minus
holidays ("Mon-Fri 09:00-17:00", "Mon-Thu 08:00-16:00, Fri 08:00-12:00", or "always").

Times in and out are aware datetimes (naive ones are taken as UTC). Opening hours are local
wall-clock times, turned into UTC day by day with ``zoneinfo``, so a day on which the clocks
change is as long as it really is (a DST spring-forward day open 00:00-24:00 has 23 hours).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_IDLE_DAYS = 3 * 366  # a calendar with no opening hours this long is an error, not a loop
_ENTRY = re.compile(
    r"^(?P<first>[a-z]{3})(?:\s*-\s*(?P<last>[a-z]{3}))?\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$"
)

Range = tuple[int, int]  # minutes after local midnight: [start, end), end may be 1440


class CalendarError(ValueError):
    """An unreadable opening-hours text, time zone or holiday (one line, for the config check)."""


def _minutes(text: str, entry: str) -> int:
    hours, _, minutes = text.partition(":")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 24 * 60:
        raise CalendarError(f'"{text}" is not a time of day in "{entry}"')
    return value


def _day_span(first: str, last: str | None, entry: str) -> list[int]:
    for name in (first, last):
        if name is not None and name not in DAYS:
            raise CalendarError(f'unknown day "{name}" in "{entry}" (use Mon Tue ... Sun)')
    start = DAYS.index(first)
    end = DAYS.index(last) if last else start
    return [(start + i) % 7 for i in range((end - start) % 7 + 1)]  # Sat-Mon wraps


def parse_hours(text: str) -> dict[int, tuple[Range, ...]] | None:
    """Weekday (0 = Monday) → sorted, merged opening ranges; None for "always".

    Entries are separated by commas or semicolons, each "DAY[-DAY] HH:MM-HH:MM"; a day may have
    several ranges ("Mon-Fri 09:00-12:00, Mon-Fri 13:00-17:00"). "24:00" ends at midnight.
    """
    if text.strip().lower() == "always":
        return None
    week: dict[int, list[Range]] = {d: [] for d in range(7)}
    for raw in re.split(r"[,;]", text):
        entry = raw.strip()
        match = _ENTRY.match(entry.lower())
        if match is None:
            raise CalendarError(
                f'cannot read "{entry}": expected like "Mon-Fri 09:00-17:00" or "always"'
            )
        start = _minutes(match["start"], entry)
        end = _minutes(match["end"], entry)
        if end <= start:
            raise CalendarError(f'"{entry}": the end must be after the start (same day)')
        for day in _day_span(match["first"], match["last"], entry):
            week[day].append((start, end))
    return {day: _merged(ranges) for day, ranges in week.items()}


def _merged(ranges: list[Range]) -> tuple[Range, ...]:
    out: list[Range] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Calendar:
    """Opening hours in ``zone`` (None hours: always open) without ``holidays`` (local dates)."""

    hours: Mapping[int, tuple[Range, ...]] | None = None
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    holidays: frozenset[date] = frozenset()

    @property
    def always(self) -> bool:
        return self.hours is None

    @property
    def day_length(self) -> timedelta:
        """The length of an average business day (Mon-Fri 09-17: 8 h; always: 24 h): what one
        "d" of an SLA target means."""
        if self.hours is None:
            return timedelta(hours=24)
        open_days = [sum(e - s for s, e in r) for r in self.hours.values() if r]
        if not open_days:
            return timedelta(0)
        return timedelta(minutes=sum(open_days) / len(open_days))

    def intervals(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        """The opening intervals of local ``day`` as aware UTC datetimes."""
        if self.hours is None or day in self.holidays:
            return
        for start, end in self.hours.get(day.weekday(), ()):
            yield self._utc(day, start), self._utc(day, end)

    def _utc(self, day: date, minutes: int) -> datetime:
        if minutes >= 24 * 60:
            day, minutes = day + timedelta(days=1), minutes - 24 * 60
        local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=self.zone)
        return local.astimezone(UTC)  # a time in a spring-forward gap counts as after it

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of business time after ``start`` (aware UTC)."""
        start = _aware(start)
        if self.hours is None or duration <= timedelta(0):
            return start + max(duration, timedelta(0))
        remaining = duration
        day = self._local_date(start) - timedelta(days=1)  # a range may end after midnight UTC
        idle = 0
        while idle < MAX_IDLE_DAYS:
            found = False
            for opens, closes in self.intervals(day):
                begin = max(opens, start)
                if closes <= begin:
                    continue
                found = True
                if remaining <= closes - begin:
                    return begin + remaining
                remaining -= closes - begin
            idle = 0 if found else idle + 1
            day += timedelta(days=1)
        raise CalendarError(f"no business hours within {MAX_IDLE_DAYS} days of {start}")

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Business time from ``a`` to ``b``; zero when ``b`` is not after ``a``."""
        a, b = _aware(a), _aware(b)
        if b <= a:
            return timedelta(0)
        if self.hours is None:
            return b - a
        total = timedelta(0)
        day, last = self._local_date(a) - timedelta(days=1), self._local_date(b)
        while day <= last:
            for opens, closes in self.intervals(day):
                overlap = min(closes, b) - max(opens, a)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total


def parse_zone(name: object) -> ZoneInfo:
    """An IANA time zone by name; CalendarError when unknown."""
    if not isinstance(name, str) or not name.strip():
        raise CalendarError(f"must be an IANA time zone name, got {name!r}")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f'unknown time zone "{name}"') from None


def parse_holidays(values: Iterable[object]) -> frozenset[date]:
    """Dates as TOML dates or "YYYY-MM-DD" strings; CalendarError on the first bad one."""
    found: set[date] = set()
    for value in values:
        if isinstance(value, date) and not isinstance(value, datetime):
            found.add(value)
            continue
        try:
            found.add(date.fromisoformat(str(value)))
        except ValueError:
            raise CalendarError(f'"{value}" is not a date like "2026-12-25"') from None
    return frozenset(found)


def calendar_from_config(section: Mapping[str, Any]) -> Calendar:
    """A calendar from an ``[sla]`` table (business_hours, timezone, holidays); defaults to
    always open in UTC. Raises CalendarError for a bad value."""
    hours = parse_hours(str(section.get("business_hours", "always")))
    zone = parse_zone(section.get("timezone", "UTC"))
    holidays = parse_holidays(section.get("holidays", []))
    return Calendar(hours, zone, holidays)
