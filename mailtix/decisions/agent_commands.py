"""Commands at the top of an agent's mail (pure): ``#status pending``, ``#assign bob@…``, …

Lines at the very top that start with ``#word`` are commands (blank lines between them are
fine); the first other line starts the body. Every command is validated; one invalid command
makes the whole mail invalid, so nothing is changed and nothing is relayed.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from mailtix.domain.vocabulary import PRIORITIES, STATUSES

COMMAND_LINE = re.compile(r"^#([A-Za-z][A-Za-z_-]*)\b[ \t]*(.*)$")
ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")
TAG = re.compile(r"^[\w.-]{1,40}$")
KNOWN = ("note", "status", "assign", "priority", "department", "tag", "customer", "participant")


@dataclass(frozen=True)
class Command:
    name: str  # one of KNOWN
    argument: str  # validated and normalised (lower-case addresses, "me" resolved)
    line: str  # as written, for events and error replies


@dataclass(frozen=True)
class CommandBlock:
    commands: tuple[Command, ...]
    errors: tuple[str, ...]
    body: str  # the text after the command lines

    @property
    def internal(self) -> bool:
        """A mail with ``#note`` is internal as a whole: nothing of it reaches the customer."""
        return any(c.name == "note" for c in self.commands)


@dataclass(frozen=True)
class Directory:
    """What commands may name: departments and agent addresses."""

    departments: Collection[str]
    agents: Collection[str]


def parse_commands(text: str, sender: str, directory: Directory) -> CommandBlock:
    lines = text.replace("\r\n", "\n").split("\n")
    commands: list[Command] = []
    errors: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        match = COMMAND_LINE.match(line)
        if line and match is None:
            break
        if match is not None:
            name, argument = match.group(1).lower(), match.group(2).strip()
            problem, value = validate(name, argument, sender, directory)
            if problem:
                errors.append(f"{line}: {problem}")
            else:
                commands.append(Command(name, value, line))
        index += 1
    body = "\n".join(lines[index:]).strip("\n")
    return CommandBlock(tuple(commands), tuple(errors), body)


def validate(name: str, argument: str, sender: str, directory: Directory) -> tuple[str, str]:
    """("", normalised argument) when fine, else (what is wrong, "")."""
    if name not in KNOWN:
        return f"unknown command #{name} (known: {', '.join('#' + k for k in KNOWN)})", ""
    if name == "note":
        return "", argument
    if not argument:
        return f"#{name} needs an argument", ""
    checks = {
        "status": lambda a: _choice(a, STATUSES),
        "priority": lambda a: _choice(a, PRIORITIES),
        "assign": lambda a: _agent(sender if a.lower() == "me" else a, directory),
        "department": lambda a: _choice(a, tuple(directory.departments)),
        "tag": lambda a: ("", a) if TAG.match(a) else ("tags are 1-40 letters, digits, . _ -", ""),
        "customer": _address,
        "participant": _participant,
    }
    return checks[name](argument)


def _choice(value: str, allowed: tuple[str, ...]) -> tuple[str, str]:
    lowered = value.lower()
    if lowered in allowed:
        return "", lowered
    return f'"{value}" is not one of {" | ".join(allowed)}', ""


def _agent(value: str, directory: Directory) -> tuple[str, str]:
    lowered = value.strip("<>").lower()
    if lowered in directory.agents:
        return "", lowered
    return f'"{value}" is not an agent (use an agent\'s address or "me")', ""


def _address(value: str) -> tuple[str, str]:
    lowered = value.strip("<>").lower()
    return ("", lowered) if ADDRESS.match(lowered) else (f'"{value}" is not an email address', "")


def _participant(value: str) -> tuple[str, str]:
    action, _, address = value.partition(" ")
    if action.lower() not in ("add", "remove"):
        return "use #participant add EMAIL or #participant remove EMAIL", ""
    problem, email = _address(address.strip())
    return (problem, "") if problem else ("", f"{action.lower()} {email}")
