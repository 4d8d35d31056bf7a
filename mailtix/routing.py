"""Decide, purely, where a new ticket goes: try the routing rules in order and record why.

Every condition of a rule's ``when`` must match (AND); a list value matches if any item does
(OR). The first matching rule decides unless it says ``continue = true``; tags accumulate and
later scalar values override earlier ones. The returned RouteDecision carries a RuleTrace for
every rule, so ``mailtix rules test`` can show exactly why.
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from fnmatch import fnmatchcase

from mailtix.config import Action, Condition, Config, MailboxConfig, Rule
from mailtix.values import ParsedMail, RouteDecision, RuleTrace

BODY_LIMIT = 200_000  # only this many characters of the body are searched, bounding regex time


@functools.lru_cache(maxsize=1024)
def compiled(pattern: str) -> re.Pattern[str] | None:
    """The pattern compiled case-insensitively, once; None if it is invalid."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        return None


def route(mail: ParsedMail, mailbox: MailboxConfig, config: Config) -> RouteDecision:
    """Where ``mail``, arriving in ``mailbox``, goes: the mailbox defaults changed by the rules."""
    decision = RouteDecision(department=mailbox.department)
    trace: list[RuleTrace] = []
    matched: list[str] = []
    decider: str | None = None
    for rule in config.rules:
        if decider is not None:
            trace.append(RuleTrace(rule.name, False, (f"not tried: rule {decider!r} decided",)))
            continue
        ok, reasons = rule_matches(rule, mail, mailbox)
        trace.append(RuleTrace(rule.name, ok, reasons))
        if ok:
            matched.append(rule.name)
            decision = apply(decision, rule.then)
            if not rule.continue_:
                decider = rule.name
    return replace(decision, matched_rules=tuple(matched), trace=tuple(trace))


def rule_matches(
    rule: Rule, mail: ParsedMail, mailbox: MailboxConfig
) -> tuple[bool, tuple[str, ...]]:
    """Whether every condition of ``rule`` holds, with one reason per condition."""
    if not rule.when:
        return True, ("no conditions: matches every message",)
    results = [condition_matches(c, mail, mailbox) for c in rule.when]
    return all(ok for ok, _ in results), tuple(reason for _, reason in results)


def condition_matches(
    cond: Condition, mail: ParsedMail, mailbox: MailboxConfig
) -> tuple[bool, str]:
    """One condition against the message: (matched, human-readable reason)."""
    if cond.key == "mailbox":
        ok = mailbox.name in cond.values
        return ok, f'mailbox "{mailbox.name}" {"is" if ok else "is not"} in {_list(cond.values)}'
    if cond.key == "to":
        return _recipients(cond, mail)
    if cond.key == "from":
        return _sender(cond, mail)
    if cond.key == "from_domain":
        return _domain(cond, mail)
    if cond.key == "subject":
        return _regex("subject", mail.subject, cond.values, show=True)
    if cond.key == "body":
        return _regex("body", mail.text[:BODY_LIMIT], cond.values, show=False)
    if cond.key == "header":
        return _header(cond, mail)
    if cond.key == "has_attachment":
        count = len(mail.attachments)
        ok = bool(count) == bool(cond.flag)
        wanted = "true" if cond.flag else "false"
        return ok, f"has_attachment: message has {count} attachment(s), wanted {wanted}"
    return False, f"unknown condition {cond.key!r}"


def _glob_hit(address: str, patterns: tuple[str, ...]) -> str | None:
    return next((p for p in patterns if fnmatchcase(address.lower(), p.lower())), None)


def _recipients(cond: Condition, mail: ParsedMail) -> tuple[bool, str]:
    for address in mail.recipients:
        hit = _glob_hit(address.email, cond.values)
        if hit is not None:
            return True, f"to: {address.email} matches {hit}"
    shown = ", ".join(a.email for a in mail.recipients) or "no recipients"
    return False, f"to: none of {shown} matches {_list(cond.values)}"


def _sender(cond: Condition, mail: ParsedMail) -> tuple[bool, str]:
    if mail.sender is None:
        return False, "from: the message has no sender"
    hit = _glob_hit(mail.sender.email, cond.values)
    if hit is not None:
        return True, f"from: {mail.sender.email} matches {hit}"
    return False, f"from: {mail.sender.email} does not match {_list(cond.values)}"


def _domain(cond: Condition, mail: ParsedMail) -> tuple[bool, str]:
    if mail.sender is None:
        return False, "from_domain: the message has no sender"
    email = mail.sender.email
    ok = email.rpartition("@")[2].lower() in {v.lower() for v in cond.values}
    return ok, f"from_domain: {email} {'is' if ok else 'is not'} in {_list(cond.values)}"


def _regex(label: str, text: str, patterns: tuple[str, ...], *, show: bool) -> tuple[bool, str]:
    quoted = f"{label} {_quote(text)}" if show else label
    for pattern in patterns:
        regex = compiled(pattern)
        if regex is not None and regex.search(text):
            return True, f"{quoted} matches /{pattern}/"
    return False, f"{quoted} does not match {' or '.join(f'/{p}/' for p in patterns)}"


def _header(cond: Condition, mail: ParsedMail) -> tuple[bool, str]:
    values = mail.header_all(cond.header)
    if not values:
        return False, f"header {cond.header}: absent"
    results = [_regex(f"header {cond.header}", v, cond.values, show=True) for v in values]
    hit = next((reason for ok, reason in results if ok), None)
    if hit is not None:
        return True, hit
    if len(results) == 1:
        return results[0]
    return False, f"header {cond.header}: none of {len(values)} values matches {_list(cond.values)}"


def apply(decision: RouteDecision, action: Action) -> RouteDecision:
    """The decision after one matched rule's ``then``: tags add up, scalars override."""
    tags = decision.tags + tuple(t for t in action.tags if t not in decision.tags)
    return replace(
        decision,
        department=action.department or decision.department,
        priority=action.priority or decision.priority,
        assign=action.assign or decision.assign,
        tags=tuple(dict.fromkeys(tags)),
        acknowledge=decision.acknowledge if action.acknowledge is None else action.acknowledge,
        ignore=decision.ignore or action.ignore,
    )


def _quote(text: str, limit: int = 60) -> str:
    short = text if len(text) <= limit else text[: limit - 3] + "..."
    return '"' + short.replace('"', '\\"') + '"'


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(values) + "]"
