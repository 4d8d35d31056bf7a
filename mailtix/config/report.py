"""The ``[report]`` section: who gets the digest, when (cron syntax), over how many days, and
the time zone reports count days and hours in. Checked with the rest of the config (one line
per problem) and read once, at load, into the config's frozen ``ReportConfig``; the digest's
cron trigger is built once per schedule."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailtix.config.reader import Problems, is_email, show
from mailtix.config.schema import key, keys


@dataclass(frozen=True)
class ReportConfig:
    digest_to: tuple[str, ...] = key((), "strings")
    digest_schedule: str | None = key(None, "text")  # cron syntax ("0 8 * * 1"), in timezone
    digest_days: int = key(7, low=1, high=366)  # the digest covers this many days up to now
    timezone: str = key("UTC", derived=True)  # [report] timezone, else [sla] timezone, else UTC

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def digest_enabled(self) -> bool:
        return bool(self.digest_to and self.digest_schedule)


def _read(sections: Mapping[str, Mapping[str, Any]], add: Any) -> ReportConfig:
    """The [report] values, calling ``add(key, message)`` for each problem."""
    section = sections.get("report", {})
    known = keys(ReportConfig)
    for name in section:
        if name not in known:
            add(name, f"unknown key (known: {', '.join(known)})")
    to = section.get("digest_to", [])
    to = [to] if isinstance(to, str) else to
    if not isinstance(to, list) or not all(isinstance(a, str) and is_email(a) for a in to):
        add("digest_to", f"must be a list of email addresses, got {show(to)}")
        to = []
    schedule = section.get("digest_schedule")
    if schedule is not None and not _valid_cron(schedule):
        add("digest_schedule", f'must be cron syntax like "0 8 * * 1", got {show(schedule)}')
        schedule = None
    if bool(to) != bool(schedule) and ("digest_to" in section or "digest_schedule" in section):
        add("digest_to" if not to else "digest_schedule", "digest needs both digest_to and "
            "digest_schedule")  # fmt: skip
    days = section.get("digest_days", ReportConfig.digest_days)
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 366:
        add("digest_days", f"must be a whole number of days from 1 to 366, got {show(days)}")
        days = ReportConfig.digest_days
    fallback = sections.get("sla", {}).get("timezone", ReportConfig.timezone)
    zone = section.get("timezone", fallback)
    if not _valid_zone(zone):
        add("timezone", f'must be an IANA time zone like "Europe/Berlin", got {show(zone)}')
        zone = ReportConfig.timezone
    if schedule is not None:
        cron_trigger(schedule, ZoneInfo(zone))  # built now, once, for the digest job
    return ReportConfig(tuple(a.lower() for a in to), schedule, days, zone)


DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _cron_days(field: str) -> str:
    """A cron day-of-week field with numbers (0 or 7 = Sunday) as names: APScheduler 3 reads
    numbers as 0 = Monday, so ``1`` would otherwise mean Tuesday."""
    if not any(c.isdigit() for c in field):
        return field
    days: list[int] = []
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            first, last = 0, 6
        else:
            first_text, _, last_text = base.partition("-")
            first = int(first_text)
            last = int(last_text) if last_text else (6 if step else first)
        if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last):
            raise ValueError(f"day of week out of range: {part}")
        days += range(first, last + 1, int(step) if step else 1)
    return ",".join(dict.fromkeys(DAY_NAMES[d] for d in days))


@functools.lru_cache(maxsize=64)
def cron_trigger(schedule: str, timezone: Any) -> Any:
    """An APScheduler 3 ``CronTrigger`` for a standard 5-field cron ``schedule``, built once
    per schedule and zone (the daemon asks every minute whether the digest is due)."""
    from apscheduler.triggers.cron import CronTrigger

    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields, got {len(fields)}")
    fields[4] = _cron_days(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=timezone)


def _valid_cron(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        cron_trigger(value, "UTC")
    except ValueError:
        return False
    return True


def _valid_zone(value: object) -> bool:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return isinstance(value, str)


def load_report(
    sections: Mapping[str, Mapping[str, Any]], file: str, problems: Problems
) -> ReportConfig:
    """The [report] section, adding a problem line for each bad key (defaults stand in)."""
    return _read(sections, lambda name, message: problems.add(file, f"report.{name}", message))


def report_config(config: Any) -> ReportConfig:
    """The [report] of a loaded config, read and checked at load."""
    report: ReportConfig = config.report
    return report


__all__ = ["ReportConfig", "cron_trigger", "load_report", "report_config"]
