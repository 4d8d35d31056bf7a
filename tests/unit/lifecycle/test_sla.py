"""SLA config ([sla], [lifecycle], [survey]) checking, due times and which alerts are due."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from support.config import small_config

from mailtix.cli.main import main
from mailtix.config.lifecycle import parse_duration
from mailtix.config.load import load_config
from mailtix.domain.errors import ConfigError
from mailtix.lifecycle import sla

GOOD = """
[lifecycle]
pending_autoresolve_days = 5
status_mails = ["resolved", "closed"]

[sla]
business_hours = "Mon-Fri 09:00-17:00"
timezone = "Europe/Berlin"
holidays = ["2026-12-25"]
warn_before = "1h"
lead = "Lead@ACME.example"

[sla.first_response]
urgent = "1h"
normal = "1d"

[sla.resolution]
normal = "2d"

[survey]
enabled = true
"""


def write(tmp_path: Path, extra: str) -> Path:
    return small_config(tmp_path, templates=True, extra=extra)


def test_parse_duration_days_are_business_days() -> None:
    day = timedelta(hours=8)
    assert parse_duration("30m", day) == timedelta(minutes=30)
    assert parse_duration("4h", day) == timedelta(hours=4)
    assert parse_duration("2d", day) == timedelta(hours=16)
    assert parse_duration("1.5h", day) == timedelta(minutes=90)
    assert parse_duration("0", day) == parse_duration(0, day) == timedelta(0)
    assert parse_duration("2 weeks", day) is None and parse_duration(5, day) is None


def test_good_config_is_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.lifecycle.pending_autoresolve_days == 5
    assert config.lifecycle.resolved_autoclose_days == 3  # default
    assert config.lifecycle.status_mails == ("resolved", "closed")
    assert config.sla.first_response == {"urgent": timedelta(hours=1), "normal": timedelta(hours=8)}
    assert config.sla.resolution == {"normal": timedelta(hours=16)}
    assert config.sla.warn_before == timedelta(hours=1)
    assert config.sla.lead == "lead@acme.example"
    assert config.survey.enabled
    assert "sla" in config.sections  # the raw table stays for the report


def test_defaults_without_sections(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.sla.calendar.always and not config.sla.first_response
    assert config.lifecycle.status_mails == ("resolved", "closed", "reopened")
    assert not config.survey.enabled


BAD = """
[lifecycle]
pending_autoresolve_days = -1
status_mails = ["resolved", "exploded"]

[sla]
business_hours = "weekdays"
timezone = "Mars/Base"
holidays = ["2026-02-30"]
warn_before = "soon"
lead = "not an address"
first_respons = {}

[sla.first_response]
urgent = "fast"
critical = "1h"

[survey]
enabled = "yes"
"""


def test_every_bad_value_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, BAD))
    lines = info.value.problems
    expected = [
        "mailtix.toml: lifecycle.pending_autoresolve_days: must be an integer from 0 to 3650",
        "mailtix.toml: lifecycle.status_mails: must be a list of open | pending | resolved",
        'mailtix.toml: sla.business_hours: cannot read "weekdays"',
        'mailtix.toml: sla.timezone: unknown time zone "Mars/Base"',
        'mailtix.toml: sla.holidays: "2026-02-30" is not a date',
        'mailtix.toml: sla.warn_before: must be a duration like "1h" or "0"',
        'mailtix.toml: sla.lead: must be an email address, got "not an address"',
        'mailtix.toml: sla.first_respons: unknown key (did you mean "first_response"?)',
        'mailtix.toml: sla.first_response.urgent: must be a duration like "30m"',
        "mailtix.toml: sla.first_response.critical: unknown key",
        "mailtix.toml: survey.enabled: must be true or false",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in lines), (start, lines)


def test_check_exits_2_with_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[sla]\ntimezone = "Mars/Base"\n')
    assert main(["--config", str(path), "check"]) == 2
    err = capsys.readouterr().err
    assert 'mailtix.toml: sla.timezone: unknown time zone "Mars/Base"' in err
    assert "Traceback" not in err


def test_check_accepts_good_sections_and_renders_new_templates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(write(tmp_path, GOOD)), "check"]) == 0
    assert capsys.readouterr().out.startswith("ok:")


def test_due_times_in_business_hours(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    created = datetime(2026, 11, 20, 15, 0)  # Friday 16:00 in Berlin (naive UTC)
    first, resolution = sla.due_times(created, "normal", config.sla)
    assert first == datetime(2026, 11, 23, 15, 0)  # Monday 16:00 Berlin: 1 h Fri + 7 h Mon
    assert resolution == datetime(2026, 11, 24, 15, 0)  # 16 business hours
    assert sla.due_times(created, "urgent", config.sla) == (datetime(2026, 11, 20, 16, 0), None)
    assert sla.due_times(created, "low", config.sla) == (None, None)


def ticket(**fields: object) -> SimpleNamespace:
    values: dict[str, object] = {"status": "open", "first_response_due": None,
                                 "first_response_at": None, "resolution_due": None,
                                 "snoozed_until": None}  # fmt: skip
    return SimpleNamespace(**{**values, **fields})


def test_alerts_breach_warning_and_done(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    due = datetime(2026, 11, 23, 15, 0)  # Monday 16:00 Berlin
    t = ticket(first_response_due=due)
    assert sla.alerts(t, config.sla, due - timedelta(hours=2)) == []  # type: ignore[arg-type]
    warn = sla.alerts(t, config.sla, due - timedelta(minutes=30))  # type: ignore[arg-type]
    assert [(a.target, a.state) for a in warn] == [("first_response", "warning")]
    late = sla.alerts(t, config.sla, due)  # type: ignore[arg-type]
    assert [(a.target, a.state) for a in late] == [("first_response", "breached")]
    assert late[0].key != warn[0].key  # a warning and the breach are separate escalations
    answered = ticket(first_response_due=due, first_response_at=due - timedelta(hours=3))
    assert sla.alerts(answered, config.sla, due + timedelta(days=3)) == []  # type: ignore[arg-type]
    resolved = ticket(status="resolved", resolution_due=due)
    assert sla.alerts(resolved, config.sla, due + timedelta(days=3)) == []  # type: ignore[arg-type]


def test_a_snoozed_ticket_escalates_only_once_it_wakes(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    due = datetime(2026, 11, 23, 15, 0)
    wake = due + timedelta(days=1)
    t = ticket(status="pending", resolution_due=due, snoozed_until=wake)
    assert sla.alerts(t, config.sla, due + timedelta(hours=1)) == []  # type: ignore[arg-type]
    woken = sla.alerts(t, config.sla, wake)  # type: ignore[arg-type]
    assert [(a.target, a.state) for a in woken] == [("resolution", "breached")]


def test_warning_counts_business_time(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    due = datetime(2026, 11, 23, 8, 30)  # Monday 09:30 Berlin
    t = ticket(first_response_due=due)
    friday_evening = datetime(2026, 11, 20, 16, 45)  # Friday 17:45 Berlin: 30 business min left
    states = [a.state for a in sla.alerts(t, config.sla, friday_evening)]  # type: ignore[arg-type]
    assert states == ["warning"]
