"""Parsing the workflow commands (#merge, #snooze, #reply, #find, #history) and snooze times."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mailtix.decisions.agent_commands import Directory, parse_commands
from mailtix.decisions.snooze import snooze_until

AGENT = "alice@acme.example"
DIRECTORY = Directory(["general"], [AGENT], prefix="SUP", replies=["thanks", "need-details"])
NOW = datetime(2026, 11, 23, 10)


def one(line: str) -> tuple[str, str]:
    block = parse_commands(f"{line}\n\nHello", AGENT, DIRECTORY)
    if block.errors:
        return "error", block.errors[0]
    [command] = block.commands
    return command.name, command.argument


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("#merge SUP-42", ("merge", "42")),
        ("#merge [sup-42]", ("merge", "42")),
        ("#merge 0042", ("merge", "42")),
        ("#snooze 2d", ("snooze", "2d")),
        ("#snooze 4H", ("snooze", "4h")),
        ("#snooze 2026-12-24", ("snooze", "2026-12-24")),
        ("#snooze 2026-12-24 14:30", ("snooze", "2026-12-24 14:30")),
        ("#reply need-details", ("reply", "need-details")),
        ("#find printer jams", ("find", "printer jams")),
        ("#history", ("history", "")),
    ],
)
def test_workflow_commands_read(line: str, expected: tuple[str, str]) -> None:
    assert one(line) == expected


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("#merge", "needs an argument"),
        ("#merge RT-42", "not a ticket reference"),
        ("#merge SUP-42 SUP-43", "not a ticket reference"),
        ("#merge 1234567890123", "not a ticket reference"),
        ("#snooze", "needs an argument"),
        ("#snooze tomorrow", "use #snooze"),
        ("#snooze 2x", "use #snooze"),
        ("#reply", "needs an argument"),
        ("#reply ../../etc/passwd", "not the name of a canned reply"),
        ("#reply nope", 'no canned reply "nope" (known: need-details, thanks)'),
        ("#find", "needs an argument"),
    ],
)
def test_invalid_workflow_commands_say_what_is_wrong(line: str, problem: str) -> None:
    kind, text = one(line)
    assert kind == "error" and problem in text and text.startswith(line)


def test_queries_make_the_mail_internal_and_long_queries_are_cut() -> None:
    block = parse_commands("#find " + "x" * 500 + "\n\nnot for the customer", AGENT, DIRECTORY)
    assert block.internal and len(block.commands[0].argument) == 200
    assert parse_commands("#history", AGENT, DIRECTORY).internal
    assert not parse_commands("#reply thanks\n\nHi", AGENT, DIRECTORY).internal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", datetime(2026, 11, 23, 10, 30)),
        ("4h", datetime(2026, 11, 23, 14)),
        ("2d", datetime(2026, 11, 25, 10)),
        ("1w", datetime(2026, 11, 30, 10)),
        ("2026-12-24", datetime(2026, 12, 24, 8)),  # 09:00 in Berlin (CET)
        ("2026-12-24 14:30", datetime(2026, 12, 24, 13, 30)),
    ],
)
def test_snooze_times_in_the_desk_time_zone(text: str, expected: datetime) -> None:
    assert snooze_until(text, NOW, ZoneInfo("Europe/Berlin")) == (expected, "")


@pytest.mark.parametrize(
    ("text", "problem"),
    [("0m", "in the past"), ("2026-11-23", "in the past"), ("2026-11-23 10:59", "in the past"),
     ("9999d", "more than a year ahead"), ("2028-01-01", "more than a year ahead"),
     ("someday", "use #snooze")],
)  # fmt: skip
def test_snooze_in_the_past_or_too_far_is_refused(text: str, problem: str) -> None:
    until, why = snooze_until(text, NOW, ZoneInfo("Europe/Berlin"))
    assert until is None and problem in why
