"""Until when ``#snooze`` puts a ticket aside (pure): ``30m``, ``4h``, ``2d``, ``1w`` from now,
or a date (``2026-12-24``: 09:00 that day) or a date and time (``2026-12-24 14:30``), both in
the desk's time zone (``[sla] timezone``). At most a year ahead; a time in the past is an error.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

DURATION = re.compile(r"^(\d{1,4})\s*([mhdw])$", re.ASCII)
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_AHEAD = timedelta(days=366)
MORNING = time(9, 0)  # a bare date means that morning


def snooze_syntax(text: str) -> str:
    """What is wrong with ``text`` as a snooze time ("" when it reads)."""
    value = text.strip().lower()
    if DURATION.match(value) or _when(value) is not None:
        return ""
    return "use #snooze 30m | 4h | 2d | 1w | YYYY-MM-DD | 'YYYY-MM-DD HH:MM'"


def snooze_until(text: str, now: datetime, zone: tzinfo = UTC) -> tuple[datetime | None, str]:
    """(naive UTC time to wake the ticket, "") or (None, what is wrong); ``now`` naive UTC."""
    value = text.strip().lower()
    match = DURATION.match(value)
    if match is not None:
        until = now + timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    else:
        local = _when(value)
        if local is None:
            return None, snooze_syntax(text)
        until = local.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
    if until <= now:
        return None, f'"{text}" is in the past'
    if until - now > MAX_AHEAD:
        return None, f'"{text}" is more than a year ahead'
    return until, ""


def _when(value: str) -> datetime | None:
    """A date (that morning) or a date and time, as a naive local time."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), MORNING)
        return datetime.fromisoformat(value.replace("t", " ")).replace(tzinfo=None)
    except ValueError:
        return None
