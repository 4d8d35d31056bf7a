"""The report period: ``--since``/``--until`` (a date or an ISO 8601 time, in the report's
time zone) as a half-open range of naive-UTC datetimes, the way the store keeps time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from mailtix.domain.errors import UsageError

DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Period:
    """``since <= t < until``, naive UTC; ``timezone`` is where days and hours are counted."""

    since: datetime
    until: datetime
    timezone: ZoneInfo

    def local(self, value: datetime) -> datetime:
        """A naive-UTC store time in the report's time zone."""
        return value.replace(tzinfo=UTC).astimezone(self.timezone)


def parse_moment(text: str, tz: ZoneInfo, what: str) -> datetime:
    """``2026-11-01`` (local midnight) or ``2026-11-01T08:00[+01:00]`` as naive UTC."""
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            value = datetime(day.year, day.month, day.day, tzinfo=tz)
        else:
            value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{what}: not a date or ISO 8601 time: {text!r} (e.g. 2026-11-01)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC).replace(tzinfo=None)


def parse_period(
    since: str | None, until: str | None, now: datetime, tz: ZoneInfo, days: int = DEFAULT_DAYS
) -> Period:
    """The period from the command line; by default the ``days`` days up to ``now`` (naive UTC),
    ``now`` rounded up to a whole second so what happened in this second counts."""
    end = parse_moment(until, tz, "--until") if until else _whole_second_after(now)
    start = parse_moment(since, tz, "--since") if since else end - timedelta(days=days)
    if start >= end:
        raise UsageError(f"--since must be before --until (got {start} .. {end} UTC)")
    return Period(start, end, tz)


def _whole_second_after(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)
