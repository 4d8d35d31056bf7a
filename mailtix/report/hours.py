"""How durations are measured: wall-clock seconds, or business seconds when an SLA calendar is
configured (``[sla] business_hours`` other than "always"); and the SLA targets per priority from
``[sla.first_response]``/``[sla.resolution]`` exactly as escalation reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mailtix.config.model import Config
from mailtix.domain.vocabulary import PRIORITIES

Clock = Callable[[datetime, datetime], float]  # (start, end) naive UTC -> seconds


@dataclass(frozen=True)
class Targets:
    """SLA targets in seconds per priority (a priority without a target is not measured)."""

    first_response: Mapping[str, int] = field(default_factory=dict)
    resolution: Mapping[str, int] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        return bool(self.first_response or self.resolution)


def sla_targets(config: Config) -> Targets:
    """The validated targets of ``[sla]`` (the same ones escalation uses: a "d" is one
    business day of the calendar), in seconds."""

    def seconds(table: Mapping[str, timedelta]) -> dict[str, int]:
        return {p: int(table[p].total_seconds()) for p in PRIORITIES if p in table}

    return Targets(seconds(config.sla.first_response), seconds(config.sla.resolution))


def business_clock(config: Config) -> Clock | None:
    """Seconds of business time between two store times when an SLA calendar other than
    "always" is configured; None means wall-clock hours."""
    calendar = config.sla.calendar
    if calendar.always:
        return None

    def seconds(start: datetime, end: datetime) -> float:
        a, b = start.replace(tzinfo=UTC), end.replace(tzinfo=UTC)
        return float(calendar.business_time_between(a, b).total_seconds())

    return seconds
