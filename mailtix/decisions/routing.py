"""Decide, purely, where a new ticket goes: try the routing rules in order and record why.

Every condition of a rule's ``when`` must match (AND); a list value matches if any item does
(OR). The first matching rule decides unless it says ``continue = true``; tags accumulate and
later scalar values override earlier ones. The returned RouteDecision carries a RuleTrace for
every rule, so ``mailtix rules test`` can show exactly why.

The sender's organisation (``decisions.organisations``) comes first: its defaults (department,
priority, tags) replace the mailbox's before any rule is tried, so a rule that matches still
overrides them (its tags are added). ``organisation`` and ``customer_tag`` conditions ask about
the sender's organisation and customer record.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from fnmatch import fnmatchcase

from mailtix.config import rule_regex
from mailtix.config.model import Action, Condition, Config, MailboxConfig, Rule
from mailtix.config.rule_regex import MESSAGE_SECONDS, SEARCH_SECONDS, Budget
from mailtix.decisions import organisations
from mailtix.decisions.organisations import CustomerFacts
from mailtix.domain.values import ParsedMail, RouteDecision, RuleTrace

log = logging.getLogger(__name__)

# What rules see of a message: as much as a person writes, so no header or body an attacker
# makes huge costs more than a moment; the rest is not searched.
SUBJECT_LIMIT = 1_000  # characters of the subject (a line of mail holds at most 998)
HEADER_LIMIT = 1_000  # characters of each header value
HEADER_VALUES = 20  # values of one header name (Received:, say) tried
RECIPIENT_LIMIT = 100  # recipients (To + Cc) tried
ADDRESS_LIMIT = 320  # characters of an address (RFC 5321: 64 + @ + 255)
BODY_LIMIT = 20_000  # characters of the body text


def route(
    mail: ParsedMail,
    mailbox: MailboxConfig,
    config: Config,
    customer: CustomerFacts | None = None,
) -> RouteDecision:
    """Where ``mail``, arriving in ``mailbox``, goes: the mailbox defaults, then the sender's
    organisation's, changed by the rules. ``customer`` None: what the config alone knows."""
    if customer is None:
        email = mail.sender.email if mail.sender else ""
        customer = organisations.facts(config.organisations, email)
    decision = with_organisation(RouteDecision(department=mailbox.department), customer)
    budget = Budget(MESSAGE_SECONDS, SEARCH_SECONDS)
    trace: list[RuleTrace] = []
    matched: list[str] = []
    decider: str | None = None
    for rule in config.rules:
        if decider is not None:
            trace.append(RuleTrace(rule.name, False, (f"not tried: rule {decider!r} decided",)))
            continue
        ok, reasons = rule_matches(rule, mail, mailbox, budget, customer)
        trace.append(RuleTrace(rule.name, ok, reasons))
        if ok:
            matched.append(rule.name)
            decision = apply(decision, rule.then)
            if not rule.continue_:
                decider = rule.name
    return replace(decision, matched_rules=tuple(matched), trace=tuple(trace))


def with_organisation(decision: RouteDecision, customer: CustomerFacts) -> RouteDecision:
    """``decision`` with the defaults of the customer's organisation, if they have one."""
    found = customer.membership.organisation
    reason = customer.membership.reason
    if found is None:
        return replace(decision, organisation_reason=reason)
    defaults = Action(department=found.department, priority=found.priority, tags=found.tags)
    return replace(apply(decision, defaults), organisation=found.name, organisation_reason=reason)


def rule_matches(
    rule: Rule,
    mail: ParsedMail,
    mailbox: MailboxConfig,
    budget: Budget | None = None,
    customer: CustomerFacts | None = None,
) -> tuple[bool, tuple[str, ...]]:
    """Whether every condition of ``rule`` holds, with one reason per condition."""
    if not rule.when:
        return True, ("no conditions: matches every message",)
    budget = budget or Budget(MESSAGE_SECONDS, SEARCH_SECONDS)
    results = [condition_matches(c, mail, mailbox, budget, customer) for c in rule.when]
    return all(ok for ok, _ in results), tuple(reason for _, reason in results)


def condition_matches(
    cond: Condition,
    mail: ParsedMail,
    mailbox: MailboxConfig,
    budget: Budget | None = None,
    customer: CustomerFacts | None = None,
) -> tuple[bool, str]:
    """One condition against the message: (matched, human-readable reason)."""
    budget = budget or Budget(MESSAGE_SECONDS, SEARCH_SECONDS)
    if cond.key in ("organisation", "customer_tag"):
        return _customer(cond, customer)
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
        return _regex("subject", mail.subject, SUBJECT_LIMIT, cond.values, budget, show=True)
    if cond.key == "body":
        return _regex("body", mail.text, BODY_LIMIT, cond.values, budget, show=False)
    if cond.key == "header":
        return _header(cond, mail, budget)
    if cond.key == "has_attachment":
        count = len(mail.attachments)
        ok = bool(count) == bool(cond.flag)
        wanted = "true" if cond.flag else "false"
        return ok, f"has_attachment: message has {count} attachment(s), wanted {wanted}"
    return False, f"unknown condition {cond.key!r}"


def _customer(cond: Condition, customer: CustomerFacts | None) -> tuple[bool, str]:
    """``organisation`` (names, compared case-insensitively) or ``customer_tag``."""
    wanted = {v.casefold() for v in cond.values}
    if cond.key == "organisation":
        name = customer.membership.name if customer else None
        ok = name is not None and name.casefold() in wanted
        why = customer.membership.reason if customer else "no sender"
        shown = f'organisation "{name}"' if name else "no organisation"
        return ok, f"organisation: {shown} {'is' if ok else 'is not'} in {_list(cond.values)} " \
            f"({why})"  # fmt: skip
    tags = customer.tags if customer else ()
    hit = next((t for t in tags if t.casefold() in wanted), None)
    if hit is not None:
        return True, f'customer_tag: the customer is tagged "{hit}"'
    shown = ", ".join(tags) if tags else "no tags"
    return False, f"customer_tag: the customer has {shown}, none of {_list(cond.values)}"


def _glob_hit(address: str, patterns: tuple[str, ...]) -> str | None:
    seen = address[:ADDRESS_LIMIT].lower()
    return next((p for p in patterns if fnmatchcase(seen, p.lower())), None)


def _recipients(cond: Condition, mail: ParsedMail) -> tuple[bool, str]:
    for address in mail.recipients[:RECIPIENT_LIMIT]:
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


def _regex(
    label: str,
    text: str,
    limit: int,
    patterns: tuple[str, ...],
    budget: Budget,
    *,
    show: bool,
) -> tuple[bool, str]:
    seen = text[:limit]
    quoted = f"{label} {_quote(seen)}" if show else label
    if len(text) > limit:
        quoted += f" (its first {limit} characters)"
    for pattern in patterns:
        found = rule_regex.search(pattern, seen, budget)
        if found is None:
            log.warning("routing: /%s/ on %s ran out of time; counted as no match", pattern, label)
            return False, f"{quoted}: /{pattern}/ ran out of time; counted as no match"
        if found:
            return True, f"{quoted} matches /{pattern}/"
    return False, f"{quoted} does not match {' or '.join(f'/{p}/' for p in patterns)}"


def _header(cond: Condition, mail: ParsedMail, budget: Budget) -> tuple[bool, str]:
    values = mail.header_all(cond.header)[:HEADER_VALUES]
    if not values:
        return False, f"header {cond.header}: absent"
    label = f"header {cond.header}"
    results = [_regex(label, v, HEADER_LIMIT, cond.values, budget, show=True) for v in values]
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
        spam=decision.spam or action.spam,
    )


def _quote(text: str, limit: int = 60) -> str:
    short = text if len(text) <= limit else text[: limit - 3] + "..."
    return '"' + short.replace('"', '\\"') + '"'


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(values) + "]"
