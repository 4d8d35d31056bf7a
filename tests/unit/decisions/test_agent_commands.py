"""Agent commands at the top of a reply: parsed, validated, and removed from the body."""

from __future__ import annotations

import pytest

from mailtix.decisions.agent_commands import Directory, parse_commands

DIRECTORY = Directory(
    departments=("general", "billing"), agents=("alice@acme.example", "bob@acme.example")
)
ALICE = "alice@acme.example"


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_commands(text, ALICE, DIRECTORY)


def test_several_commands_then_body() -> None:
    block = parse("#status pending\n#priority HIGH\n\n#tag vip\nHello Carol,\n\n#not a command\n")
    assert [(c.name, c.argument) for c in block.commands] == [
        ("status", "pending"),
        ("priority", "high"),
        ("tag", "vip"),
    ]
    assert block.errors == ()
    assert block.body == "Hello Carol,\n\n#not a command"


def test_no_commands_body_unchanged() -> None:
    block = parse("Hello,\n#status closed\n")
    assert block.commands == () and block.body == "Hello,\n#status closed"


def test_assign_me_and_agent_addresses() -> None:
    block = parse("#assign me\n#assign <BOB@acme.example>\n")
    assert [c.argument for c in block.commands] == [ALICE, "bob@acme.example"]


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("#status done", '"done" is not one of new | open | pending | resolved | closed'),
        ("#priority asap", '"asap" is not one of low | normal | high | urgent'),
        ("#assign eve@evil.example", "is not an agent"),
        ("#department sales", '"sales" is not one of general | billing'),
        ("#tag has spaces", "tags are"),
        ("#frobnicate now", "unknown command #frobnicate"),
        ("#status", "#status needs an argument"),
        ("#customer not-an-address", "is not an email address"),
        ("#participant invite x@y.example", "use #participant add EMAIL"),
    ],
)
def test_invalid_commands_are_reported(line: str, fragment: str) -> None:
    block = parse(f"{line}\nbody\n")
    assert block.commands == ()
    assert len(block.errors) == 1 and fragment in block.errors[0] and line in block.errors[0]


def test_one_bad_command_among_good_ones_is_still_an_error() -> None:
    block = parse("#status pending\n#status nope\n")
    assert len(block.commands) == 1 and len(block.errors) == 1


def test_note_makes_the_mail_internal() -> None:
    block = parse("#note called the customer, waiting for logs\n\nmore internal text")
    assert block.internal
    assert block.commands[0].argument == "called the customer, waiting for logs"


def test_participant_and_customer() -> None:
    block = parse(
        "#participant add Dan@Example.org\n#participant remove x@example.org\n"
        "#customer carol@example.org"
    )
    assert [c.argument for c in block.commands] == [
        "add dan@example.org",
        "remove x@example.org",
        "carol@example.org",
    ]


def test_hash_followed_by_space_or_digit_is_body() -> None:
    assert parse("# Heading\ntext").commands == ()
    assert parse("#42 is fixed").body == "#42 is fixed"
