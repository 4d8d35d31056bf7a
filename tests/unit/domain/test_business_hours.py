"""Business-hours arithmetic: weekends, holidays, time zones, DST changes, several ranges a day,
"always", starts outside opening hours and durations spanning many days."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailtix.domain.business_hours import (
    Calendar,
    CalendarError,
    calendar_from_config,
    parse_holidays,
    parse_hours,
    parse_zone,
)

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def cal(hours: str = "Mon-Fri 09:00-17:00", zone: ZoneInfo = BERLIN, holidays=()) -> Calendar:  # type: ignore[no-untyped-def]
    return Calendar(parse_hours(hours), zone, frozenset(holidays))


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


def H(hours: float) -> timedelta:  # noqa: N802
    return timedelta(hours=hours)


def test_within_one_day() -> None:
    start = local(BERLIN, 2026, 11, 23, 10, 0)  # Monday
    assert cal().add_business_time(start, H(3)) == local(BERLIN, 2026, 11, 23, 13, 0)


def test_result_is_aware_utc() -> None:
    found = cal().add_business_time(local(BERLIN, 2026, 11, 23, 10, 0), H(1))
    assert found.tzinfo is UTC and found == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_naive_input_is_utc() -> None:
    naive = datetime(2026, 11, 23, 9, 0)  # 10:00 in Berlin
    assert cal().add_business_time(naive, H(1)) == local(BERLIN, 2026, 11, 23, 11, 0)


def test_friday_afternoon_rolls_over_the_weekend() -> None:
    start = local(BERLIN, 2026, 11, 20, 16, 0)  # Friday
    assert cal().add_business_time(start, H(2)) == local(BERLIN, 2026, 11, 23, 10, 0)


def test_start_on_saturday_counts_from_monday_opening() -> None:
    start = local(BERLIN, 2026, 11, 21, 12, 0)
    assert cal().add_business_time(start, H(1)) == local(BERLIN, 2026, 11, 23, 10, 0)


def test_start_before_opening_and_after_closing() -> None:
    assert cal().add_business_time(local(BERLIN, 2026, 11, 23, 6, 0), H(1)) == local(
        BERLIN, 2026, 11, 23, 10, 0
    )
    assert cal().add_business_time(local(BERLIN, 2026, 11, 23, 20, 0), H(1)) == local(
        BERLIN, 2026, 11, 24, 10, 0
    )


def test_exactly_to_closing_time_stays_that_day() -> None:
    start = local(BERLIN, 2026, 11, 23, 9, 0)
    assert cal().add_business_time(start, H(40)) == local(BERLIN, 2026, 11, 27, 17, 0)


def test_holidays_are_skipped() -> None:
    calendar = cal(holidays=[date(2026, 12, 25), date(2026, 12, 28)])
    start = local(BERLIN, 2026, 12, 24, 16, 0)  # Thursday; Fri 25 and Mon 28 are holidays
    assert calendar.add_business_time(start, H(2)) == local(BERLIN, 2026, 12, 29, 10, 0)
    between = calendar.business_time_between(start, local(BERLIN, 2026, 12, 29, 10, 0))
    assert between == H(2)


def test_spring_forward_berlin_business_hours() -> None:
    # Clocks go 02:00 -> 03:00 on Sunday 29 March 2026: CET (+1) before, CEST (+2) after.
    start = local(BERLIN, 2026, 3, 27, 16, 0)  # Friday, 15:00 UTC
    due = cal().add_business_time(start, H(2))
    assert due == local(BERLIN, 2026, 3, 30, 10, 0)
    assert due == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # opening hours stay local


def test_fall_back_berlin_business_hours() -> None:
    # Clocks go 03:00 -> 02:00 on Sunday 25 October 2026.
    start = local(BERLIN, 2026, 10, 23, 16, 0)  # Friday, 14:00 UTC
    due = cal().add_business_time(start, H(2))
    assert due == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)  # Monday 10:00 CET


def test_dst_days_are_as_long_as_they_really_are() -> None:
    every_day = cal("Mon-Sun 00:00-24:00")
    spring = every_day.business_time_between(
        local(BERLIN, 2026, 3, 29, 0, 0), local(BERLIN, 2026, 3, 30, 0, 0)
    )
    autumn = every_day.business_time_between(
        local(BERLIN, 2026, 10, 25, 0, 0), local(BERLIN, 2026, 10, 26, 0, 0)
    )
    assert (spring, autumn) == (H(23), H(25))


def test_night_hours_across_spring_forward_gap() -> None:
    # Open 01:00-04:00 local: on the spring-forward night 02:00-03:00 does not exist.
    nights = cal("Sun 01:00-04:00")
    assert nights.business_time_between(
        local(BERLIN, 2026, 3, 29, 0, 0), local(BERLIN, 2026, 3, 29, 12, 0)
    ) == H(2)
    assert nights.business_time_between(
        local(BERLIN, 2026, 10, 25, 0, 0), local(BERLIN, 2026, 10, 25, 12, 0)
    ) == H(4)


def test_new_york_spring_forward_and_fall_back() -> None:
    ny = cal(zone=NEW_YORK)
    # 8 March 2026: EST (-5) -> EDT (-4).
    assert ny.add_business_time(local(NEW_YORK, 2026, 3, 6, 16, 0), H(2)) == datetime(
        2026, 3, 9, 14, 0, tzinfo=UTC
    )
    # 1 November 2026: EDT -> EST.
    assert ny.add_business_time(local(NEW_YORK, 2026, 10, 30, 16, 0), H(2)) == datetime(
        2026, 11, 2, 15, 0, tzinfo=UTC
    )


def test_same_utc_moment_differs_by_zone() -> None:
    moment = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)  # 16:30 Berlin, 10:30 New York
    assert cal(zone=BERLIN).add_business_time(moment, H(1)) == datetime(
        2026, 11, 24, 8, 30, tzinfo=UTC
    )
    assert cal(zone=NEW_YORK).add_business_time(moment, H(1)) == datetime(
        2026, 11, 23, 16, 30, tzinfo=UTC
    )


def test_always_is_plain_utc_arithmetic_even_across_dst() -> None:
    always = Calendar(parse_hours("always"), BERLIN)
    start = local(BERLIN, 2026, 3, 28, 12, 0)
    assert always.add_business_time(start, H(24)) == local(BERLIN, 2026, 3, 29, 13, 0)
    assert always.business_time_between(start, start.astimezone(UTC) + H(50)) == H(50)
    assert always.day_length == H(24)


def test_several_ranges_per_day() -> None:
    short_friday = cal("Mon-Thu 08:00-16:00, Fri 08:00-12:00")
    friday = local(BERLIN, 2026, 11, 27, 11, 0)
    assert short_friday.add_business_time(friday, H(2)) == local(BERLIN, 2026, 11, 30, 9, 0)
    assert short_friday.day_length == timedelta(hours=36 / 5)
    lunch = cal("Mon-Fri 09:00-12:00; Mon-Fri 13:00-17:00")
    monday = local(BERLIN, 2026, 11, 23, 11, 0)
    assert lunch.add_business_time(monday, H(2)) == local(BERLIN, 2026, 11, 23, 14, 0)
    assert lunch.business_time_between(monday, local(BERLIN, 2026, 11, 23, 14, 0)) == H(2)


def test_overlapping_ranges_are_merged_and_days_wrap() -> None:
    hours = parse_hours("Mon 09:00-12:00, Mon 11:00-14:00, Sat-Mon 20:00-22:00")
    assert hours is not None
    assert hours[0] == ((540, 840), (1200, 1320))
    assert hours[5] == hours[6] == ((1200, 1320),)
    assert hours[2] == ()


def test_durations_spanning_many_days() -> None:
    start = local(BERLIN, 2026, 11, 23, 9, 0)
    due = cal().add_business_time(start, H(8 * 20))  # four working weeks
    assert due == local(BERLIN, 2026, 12, 18, 17, 0)
    assert cal().business_time_between(start, due) == H(160)


def test_between_is_the_inverse_of_add() -> None:
    rng = random.Random(7)
    calendars = [cal(), cal(zone=NEW_YORK), cal("Mon-Thu 08:00-16:00, Fri 08:00-12:00"),
                 cal(holidays=[date(2026, 3, 30), date(2026, 12, 25)])]  # fmt: skip
    for _ in range(300):
        calendar = rng.choice(calendars)
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(525600))
        duration = timedelta(minutes=rng.randrange(1, 60 * 100))
        due = calendar.add_business_time(start, duration)
        assert calendar.business_time_between(start, due) == duration


def test_between_is_zero_when_reversed_or_closed() -> None:
    monday = local(BERLIN, 2026, 11, 23, 10, 0)
    assert cal().business_time_between(monday, monday - H(5)) == timedelta(0)
    saturday = local(BERLIN, 2026, 11, 21, 10, 0)
    assert cal().business_time_between(saturday, saturday + H(20)) == timedelta(0)


def test_zero_duration_is_the_start() -> None:
    saturday = local(BERLIN, 2026, 11, 21, 10, 0)
    assert cal().add_business_time(saturday, timedelta(0)) == saturday


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mon-Fri 9-17", "cannot read"),
        ("Mon-Frx 09:00-17:00", 'unknown day "frx"'),
        ("Mon-Fri 17:00-09:00", "end must be after the start"),
        ("Mon-Fri 09:00-25:00", "not a time of day"),
        ("Mon-Fri 09:61-17:00", "not a time of day"),
        ("", "cannot read"),
    ],
)
def test_bad_hours(text: str, message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        parse_hours(text)


def test_zone_and_holidays_errors() -> None:
    with pytest.raises(CalendarError, match='unknown time zone "Mars/Base"'):
        parse_zone("Mars/Base")
    with pytest.raises(CalendarError, match="not a date"):
        parse_holidays(["2026-13-01"])
    assert parse_holidays([date(2026, 1, 1), "2026-12-25"]) == {
        date(2026, 1, 1),
        date(2026, 12, 25),
    }


def test_calendar_from_config_section() -> None:
    calendar = calendar_from_config(
        {
            "business_hours": "Mon-Fri 09:00-17:00",
            "timezone": "Europe/Berlin",
            "holidays": ["2026-12-25"],
        }  # fmt: skip
    )
    assert calendar.zone == BERLIN and date(2026, 12, 25) in calendar.holidays
    assert calendar.day_length == H(8)
    assert calendar_from_config({}).always
