"""How durations are measured: wall-clock seconds, or business seconds when an SLA calendar is
configured (``[sla] business_hours`` other than "always") and ``mailtix.business_hours`` is
available; and the SLA targets per priority from ``[sla.first_response]``/``[sla.resolution]``.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mailtix.config import PRIORITIES, Config

log = logging.getLogger(__name__)

Clock = Callable[[datetime, datetime], float]  # (start, end) naive UTC -> seconds
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd])\s*$")
_UNIT = {"m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Targets:
    """SLA targets in seconds per priority (a priority without a target is not measured)."""

    first_response: Mapping[str, int] = field(default_factory=dict)
    resolution: Mapping[str, int] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        return bool(self.first_response or self.resolution)


def parse_duration(text: object) -> int | None:
    """``"30m"``, ``"4h"``, ``"2d"`` as seconds (a day is 24 hours); None if unreadable."""
    match = _DURATION.match(str(text))
    return int(float(match[1]) * _UNIT[match[2]]) if match else None


def sla_targets(config: Config) -> Targets:
    """The targets of ``[sla]``, ignoring what cannot be read (``mailtix check`` reports it)."""
    section = config.sections.get("sla", {})

    def table(name: str) -> dict[str, int]:
        raw = section.get(name, {})
        if not isinstance(raw, dict):
            return {}
        found = {p: parse_duration(raw[p]) for p in PRIORITIES if p in raw}
        return {p: s for p, s in found.items() if s is not None}

    return Targets(table("first_response"), table("resolution"))


def business_clock(config: Config) -> Clock | None:
    """Seconds of business time between two store times, when an SLA calendar is configured
    and ``mailtix.business_hours`` is there to compute it; else None (wall-clock hours)."""
    hours = config.sections.get("sla", {}).get("business_hours")
    if not hours or str(hours).strip().lower() == "always":
        return None
    try:
        module = importlib.import_module("mailtix.business_hours")
    except ImportError:
        log.info("[sla] business_hours set but mailtix.business_hours missing: wall-clock hours")
        return None
    calendar = _calendar(module, config)
    if calendar is None:
        return None

    def seconds(start: datetime, end: datetime) -> float:
        a, b = start.replace(tzinfo=UTC), end.replace(tzinfo=UTC)
        return float(calendar.business_time_between(a, b).total_seconds())

    return seconds


def _calendar(module: Any, config: Config) -> Any | None:
    """The calendar object with ``business_time_between``: ``config.sla.calendar`` when the
    config carries a validated [sla], else one built by the module from the [sla] table."""
    sla = getattr(config, "sla", None)
    for candidate in (getattr(sla, "calendar", None), sla):
        if hasattr(candidate, "business_time_between"):
            return candidate
    for name in ("calendar_from_config", "from_config", "load_calendar"):
        factory = getattr(module, name, None)
        if callable(factory):
            try:
                built = factory(config.sections.get("sla", {}))
            except Exception as exc:  # an invalid calendar is `mailtix check`'s to report
                log.warning("[sla] calendar unusable for the report: %s", exc)
                return None
            if hasattr(built, "business_time_between"):
                return built
    if hasattr(module, "business_time_between"):
        return module
    return None
