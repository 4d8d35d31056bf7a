"""Read departments.toml and routing.toml into Department, Agent and Rule values, checking both.

Problems are collected like the main config's (one line "FILE: KEY: what is wrong" each).
When departments.toml defines no department at all, one implicit department "general" with no
agents exists, so a fresh install routes everything to "general".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mailtix.config import rule_regex
from mailtix.config.model import (
    Action,
    Agent,
    Condition,
    Config,
    Department,
    MailboxConfig,
    Rule,
)
from mailtix.config.reader import (
    MISSING,
    Problems,
    Reader,
    is_domain,
    is_email,
    read_toml,
    show,
    table_lines,
)
from mailtix.domain.vocabulary import PRIORITIES

DEPARTMENT_KEYS = ("name", "agents")
AGENT_KEYS = ("email", "name", "away")
RULE_KEYS = ("name", "when", "then", "continue")
WHEN_KEYS = (
    "mailbox", "to", "from", "from_domain", "subject", "body", "header", "has_attachment",
    "organisation", "customer_tag",
)  # fmt: skip
THEN_KEYS = ("department", "priority", "assign", "tags", "acknowledge", "ignore", "spam")
REGEX_KEYS = ("subject", "body")
HEADER_NAME = re.compile(r"^[!-9;-~]+$")
IMPLICIT = (Department("general"),)


@dataclass(frozen=True)
class Known:
    """What rules may refer to; ``directory`` is False when departments.toml could not be read."""

    mailboxes: frozenset[str]
    departments: frozenset[str]
    agents: frozenset[str]
    directory: bool = True
    organisations: frozenset[str] | None = None  # casefolded names; None: not checked


STRATEGIES = ("round-robin", "least-open")


def file_label(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


def load_departments(
    path: Path | None, base: Path, problems: Problems, mailboxes: tuple[MailboxConfig, ...]
) -> tuple[tuple[Department, ...], tuple[Agent, ...], bool]:
    """Departments (never empty), agents, and whether the file could be read at all."""
    if path is None:
        return IMPLICIT, (), True
    label = file_label(path, base)
    data = read_toml(path, label, problems)
    if data is None:
        return IMPLICIT, (), False
    top = Reader(problems, label, "", data, ("department", "agent"))
    own = {m.address for m in mailboxes}
    agents = _agents(top, own)
    departments = _departments(top, agents, own)
    return tuple(departments) or IMPLICIT, tuple(agents.values()), True


def _agents(top: Reader, own: set[str]) -> dict[str, Agent]:
    agents: dict[str, Agent] = {}
    for index, table in enumerate(top.tables("agent")):
        reader = Reader(top.problems, top.file, f"agent[{index}]", table, AGENT_KEYS)
        email = reader.text("email", required=True).strip().lower()
        name, away = reader.text("name"), reader.boolean("away", False)
        if not email or not _agent_email(reader, "email", email, own):
            continue
        if email in agents:
            reader.problem("email", f'duplicate agent "{email}"')
        agents[email] = Agent(email, name, away)
    return agents


def _agent_email(reader: Reader, key: str, email: str, own: set[str]) -> bool:
    if not is_email(email):
        reader.problem(key, f'must be an email address, got "{email}"')
        return False
    if email in own:
        reader.problem(key, f'"{email}" is a mailbox address; an agent needs their own address')
        return False
    return True


def _departments(top: Reader, agents: dict[str, Agent], own: set[str]) -> list[Department]:
    found: list[Department] = []
    for index, table in enumerate(top.tables("department")):
        reader = Reader(top.problems, top.file, f"department[{index}]", table, DEPARTMENT_KEYS)
        name = reader.text("name", required=True).strip()
        members: list[str] = []
        raw = reader.raw("agents")
        if (
            isinstance(raw, list)
            and not all(isinstance(e, str) for e in raw)
            or (reader.has("agents") and not isinstance(raw, list))
        ):
            reader.problem("agents", f"must be a list of email addresses, got {show(raw)}")
            raw = []
        for position, email in enumerate(raw if isinstance(raw, list) else []):
            email = email.strip().lower()
            if _agent_email(reader, f"agents[{position}]", email, own) and email not in members:
                members.append(email)
                agents.setdefault(email, Agent(email))  # a bare address is an agent with no name
        if name and any(d.name == name for d in found):
            reader.problem("name", f'duplicate department "{name}"')
        elif name:
            found.append(Department(name, tuple(members)))
    return found


def load_routing(
    path: Path | None, base: Path, problems: Problems, known: Known
) -> tuple[Rule, ...]:
    """The rules of routing.toml in file order (none when there is no file)."""
    if path is None:
        return ()
    label = file_label(path, base)
    data = read_toml(path, label, problems)
    if data is None:
        return ()
    top = Reader(problems, label, "", data, ("rule",))
    lines = table_lines(path, "rule")
    rules: list[Rule] = []
    for index, table in enumerate(top.tables("rule")):
        name = table.get("name") if isinstance(table, dict) else None
        prefix = (
            f'rule "{name}" (rule[{index}])' if isinstance(name, str) and name else f"rule[{index}]"
        )
        where = f"{label}:{lines[index]}" if index < len(lines) else label
        reader = Reader(problems, where, prefix, table, RULE_KEYS)
        rule = _rule(reader, known)
        if rule.name and any(r.name == rule.name for r in rules):
            reader.problem("name", f'duplicate rule name "{rule.name}"')
        rules.append(rule)
    return tuple(rules)


def _rule(reader: Reader, known: Known) -> Rule:
    name = reader.text("name", required=True).strip()
    when = Reader(
        reader.problems, reader.file, reader.key("when"), reader.data.get("when", {}), WHEN_KEYS
    )
    then = Reader(
        reader.problems, reader.file, reader.key("then"), reader.data.get("then", {}), THEN_KEYS
    )
    return Rule(name, _when(when, known), _then(then, known), reader.boolean("continue", False))


def _when(reader: Reader, known: Known) -> tuple[Condition, ...]:
    conditions: list[Condition] = []
    for key in [k for k in reader.data if k in WHEN_KEYS]:
        if key == "has_attachment":
            if isinstance(reader.raw(key), bool):
                conditions.append(Condition(key, flag=reader.boolean(key, False)))
            else:
                reader.boolean(key, False)  # reports the problem
        elif key == "header":
            conditions.extend(_headers(reader))
        else:
            values = reader.strings(key)
            if values is not None and _values_ok(reader, key, values, known):
                conditions.append(Condition(key, _normalise(key, values)))
    return tuple(conditions)


def _normalise(key: str, values: tuple[str, ...]) -> tuple[str, ...]:
    if key in ("to", "from"):
        return tuple(v.strip().lower() for v in values)
    if key == "from_domain":
        return tuple(v.strip().lower().lstrip("@") for v in values)
    return values


def _values_ok(reader: Reader, key: str, values: tuple[str, ...], known: Known) -> bool:
    ok = True
    for value in values:
        problem = _value_problem(key, value, known)
        if problem:
            reader.problem(key, problem)
            ok = False
    return ok


def _value_problem(key: str, value: str, known: Known) -> str:
    if key == "mailbox" and value not in known.mailboxes:
        return f'unknown mailbox "{value}" (configured: {", ".join(sorted(known.mailboxes))})'
    if key in ("to", "from", "customer_tag") and not value.strip():
        return "must not be empty"
    if key == "organisation" and known.organisations is not None and \
            value.strip().casefold() not in known.organisations:  # fmt: skip
        return f'unknown organisation "{value}" (not in the organisations file)'

    if key == "from_domain" and not is_domain(value.strip().lstrip("@")):
        return f'must be a domain name like example.com, got "{value}"'
    if key in REGEX_KEYS:
        return regex_problem(value)
    return ""


def regex_problem(pattern: str) -> str:
    """Why a rule's pattern cannot be used ("" if it can); a usable one is compiled now, once."""
    return rule_regex.problem(pattern)


def rule_warnings(config: Config) -> list[str]:
    """One line "FILE:LINE: rule NAME: KEY: why" per pattern that nests quantifiers."""
    if config.routing_path is None:
        return []
    label = file_label(config.routing_path, config.path.absolute().parent)
    lines = table_lines(config.routing_path, "rule")
    found: list[str] = []
    for index, rule in enumerate(config.rules):
        where = f"{label}:{lines[index]}" if index < len(lines) else label
        for cond in rule.when:
            key = f"when.header.{cond.header}" if cond.key == "header" else f"when.{cond.key}"
            if cond.key not in (*REGEX_KEYS, "header"):
                continue
            found += [
                f'{where}: rule "{rule.name}": {key}: /{pattern}/ repeats a repeat (nested '
                "quantifier), which can backtrack for minutes on hostile mail; a search stops "
                f"after {rule_regex.SEARCH_SECONDS} s and counts as no match, so rewrite it "
                "(e.g. (a+)+ as a+)"
                for pattern in cond.values
                if rule_regex.nested_quantifier(pattern)
            ]
    return found


def _headers(reader: Reader) -> list[Condition]:
    raw = reader.raw("header")
    if not isinstance(raw, dict):
        reader.problem("header", f"must be a table of header name = regex, got {show(raw)}")
        return []
    sub = Reader(reader.problems, reader.file, reader.key("header"), raw, raw.keys())
    found: list[Condition] = []
    for name in raw:
        values = sub.strings(name)
        if not HEADER_NAME.match(name):
            sub.problem(name, "not a valid header name")
        elif values is not None:
            problems = [p for p in map(regex_problem, values) if p]
            for problem in problems:
                sub.problem(name, problem)
            if not problems:
                found.append(Condition("header", values, header=name.lower()))
    return found


def _then(reader: Reader, known: Known) -> Action:
    department = reader.text("department").strip() or None
    if department and known.directory and department not in known.departments:
        reader.problem(
            "department",
            f'unknown department "{department}" (defined: {", ".join(sorted(known.departments))})',
        )
    assign = reader.text("assign").strip().lower() or None
    if assign and assign not in STRATEGIES and known.directory and assign not in known.agents:
        hint = '(or use "round-robin" or "least-open")'
        reader.problem("assign", f'"{assign}" is not an agent in departments.toml {hint}')
    tags = reader.strings("tags") if reader.raw("tags") not in (MISSING, []) else ()
    if tags and not all(t.strip() for t in tags):
        reader.problem("tags", "tags must not be empty")
    return Action(
        department=department,
        priority=reader.choice("priority", "normal", PRIORITIES)
        if reader.has("priority")
        else None,
        assign=assign,
        tags=tuple(t.strip() for t in tags or ()),
        acknowledge=reader.boolean("acknowledge", True) if reader.has("acknowledge") else None,
        ignore=reader.boolean("ignore", False),
        spam=reader.boolean("spam", False),
    )
