"""Commands at the top of an agent's mail (pure): ``#status pending``, ``#assign bob@…``, …

Lines at the very top that start with ``#word`` are commands (blank lines between them are
fine); the first other line starts the body. Every command is validated; one invalid command
makes the whole mail invalid, so nothing is changed and nothing is relayed.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from mailtix.decisions.snooze import snooze_syntax
from mailtix.domain.vocabulary import PRIORITIES, STATUSES

COMMAND_LINE = re.compile(r"^#([A-Za-z][A-Za-z_-]*)\b[ \t]*(.*)$")
ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")
TAG = re.compile(r"^[\w.-]{1,40}$")
KNOWN = ("note", "status", "assign", "priority", "department", "tag", "customer", "participant",
         "merge", "snooze", "reply", "find", "history", "spam", "notspam")  # fmt: skip
QUERIES = ("find", "history")  # answered to the agent alone: the mail relays nothing
SPAM_COMMANDS = ("spam", "notspam")  # lifecycle.spam; nothing of such a mail is relayed
REF = re.compile(r"^\[?(?:([A-Za-z][A-Za-z0-9]*)-)?([0-9]{1,12})\]?$", re.ASCII)
REPLY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", re.ASCII)
MAX_QUERY = 200  # characters of #find WORDS


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
        """A mail with ``#note`` (or a query, ``#find``/``#history``, or ``#spam``/``#notspam``)
        is internal as a whole: nothing of it reaches the customer."""
        return any(c.name in ("note", *QUERIES, *SPAM_COMMANDS) for c in self.commands)


@dataclass(frozen=True)
class Directory:
    """What commands may name: departments, agent addresses, the ticket prefix (``#merge``)
    and canned replies (``#reply``; None: not checked here)."""

    departments: Collection[str]
    agents: Collection[str]
    prefix: str = ""
    replies: Collection[str] | None = None


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
    if name in ("note", "history", *SPAM_COMMANDS):
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
        "merge": lambda a: _ref(a, directory.prefix),
        "snooze": lambda a: (snooze_syntax(a), "") if snooze_syntax(a) else ("", a.lower()),
        "reply": lambda a: _reply(a, directory.replies),
        "find": lambda a: ("", a[:MAX_QUERY]),
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


def _ref(value: str, prefix: str) -> tuple[str, str]:
    """A ticket reference (``SUP-42``, ``[SUP-42]``, ``42``) as its number."""
    match = REF.match(value.strip())
    if match is None or (match.group(1) and prefix and match.group(1).upper() != prefix.upper()):
        example = f"{prefix or 'SUP'}-42"
        return f'"{value}" is not a ticket reference (e.g. #merge {example})', ""
    return "", str(int(match.group(2)))


def _reply(value: str, known: Collection[str] | None) -> tuple[str, str]:
    if not REPLY_NAME.match(value):
        return f'"{value}" is not the name of a canned reply', ""
    if known is not None and value not in known:
        names = ", ".join(sorted(known)) or "none are installed"
        return f'no canned reply "{value}" (known: {names})', ""
    return "", value
