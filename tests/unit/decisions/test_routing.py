"""routing.route: rules in order, AND within a rule, OR within a list, a trace for every rule."""

from __future__ import annotations

import time
from pathlib import Path

from support.config import small_config

from mailtix.config.model import (
    Action,
    Condition,
    Config,
    Department,
    MailboxConfig,
    Rule,
    SmtpConfig,
    StoreConfig,
    TemplatesConfig,
    TicketsConfig,
)
from mailtix.config.rule_regex import nested_quantifier
from mailtix.decisions.routing import route
from mailtix.domain.values import Address, Attachment, ParsedMail

SUPPORT = MailboxConfig(name="support", address="support@example.com", department="general")
SALES = MailboxConfig(name="sales", address="sales@example.com", department="sales")


def config(*rules: Rule) -> Config:
    return Config(
        path=Path("mailtix.toml"),
        store=StoreConfig("sqlite:///:memory:"),
        tickets=TicketsConfig(),
        smtp=SmtpConfig(maildir=Path("out")),
        mailboxes=(SUPPORT, SALES),
        departments=(Department("general"), Department("billing"), Department("sales")),
        agents=(),
        rules=rules,
        templates=TemplatesConfig(Path("templates")),
    )


def mail(
    subject: str = "Hello",
    sender: str = "carol@example.org",
    to: tuple[str, ...] = ("support@example.com",),
    cc: tuple[str, ...] = (),
    text: str = "Hi there",
    headers: tuple[tuple[str, str], ...] = (),
    attachments: int = 0,
) -> ParsedMail:
    return ParsedMail(
        message_id="<m1@example.org>",
        subject=subject,
        sender=Address(sender),
        to=tuple(Address(a) for a in to),
        cc=tuple(Address(a) for a in cc),
        text=text,
        headers=headers,
        attachments=tuple(
            Attachment(f"f{i}.pdf", "application/pdf", b"x") for i in range(attachments)
        ),
    )


def rule(name: str, *when: Condition, continue_: bool = False, **then: object) -> Rule:
    return Rule(name, when, Action(**then), continue_)  # type: ignore[arg-type]


def cond(key: str, *values: str, header: str = "", flag: bool | None = None) -> Condition:
    return Condition(key, values, header=header, flag=flag)


INVOICES = rule(
    "Invoices",
    cond("subject", "invoice|refund"),
    department="billing",
    priority="high",
    tags=("invoice",),
)


def test_no_rule_matches_gives_mailbox_defaults() -> None:
    decision = route(mail(), SALES, config(INVOICES))
    assert decision.department == "sales"
    assert (decision.priority, decision.acknowledge, decision.ignore) == ("normal", True, False)
    assert decision.matched_rules == ()
    [trace] = decision.trace
    assert not trace.matched
    assert trace.reasons == ('subject "Hello" does not match /invoice|refund/',)


def test_first_match_wins_and_later_rules_are_not_tried() -> None:
    later = rule("Everything else", department="sales")
    decision = route(mail(subject="Invoice 42"), SUPPORT, config(INVOICES, later))
    assert (decision.department, decision.priority, decision.tags) == (
        "billing",
        "high",
        ("invoice",),
    )
    assert decision.matched_rules == ("Invoices",)
    assert decision.trace[0].reasons == ('subject "Invoice 42" matches /invoice|refund/',)
    assert decision.trace[1].matched is False
    assert decision.trace[1].reasons == ("not tried: rule 'Invoices' decided",)


def test_continue_accumulates_tags_and_later_scalars_win() -> None:
    first = rule("Tag", cond("body", "outage"), continue_=True, tags=("outage",), priority="urgent")
    second = rule("All", tags=("seen", "outage"), priority="low", acknowledge=False)
    decision = route(mail(text="There is an OUTAGE"), SUPPORT, config(first, second))
    assert decision.tags == ("outage", "seen")
    assert decision.priority == "low"
    assert decision.acknowledge is False
    assert decision.matched_rules == ("Tag", "All")
    assert decision.trace[0].reasons == ("body matches /outage/",)
    assert decision.trace[1].reasons == ("no conditions: matches every message",)


def test_list_values_are_or_and_keys_are_and() -> None:
    both = rule(
        "Big invoices",
        cond("subject", "refund", "invoice"),
        cond("from_domain", "bigcorp.example", "example.org"),
        department="billing",
    )
    assert route(mail(subject="invoice"), SUPPORT, config(both)).department == "billing"
    decision = route(mail(subject="invoice", sender="dan@other.example"), SUPPORT, config(both))
    assert decision.department == "general"
    assert decision.trace[0].reasons == (
        'subject "invoice" matches /invoice/',
        "from_domain: dan@other.example is not in [bigcorp.example, example.org]",
    )


def test_from_domain_is_exact() -> None:
    r = rule("Corp", cond("from_domain", "bigcorp.example"), department="billing")
    assert route(mail(sender="a@BigCorp.Example"), SUPPORT, config(r)).department == "billing"
    assert route(mail(sender="a@mail.bigcorp.example"), SUPPORT, config(r)).department == "general"


def test_globs_on_to_and_from() -> None:
    to_rule = rule("Sales", cond("to", "sales@*"), department="sales")
    decision = route(mail(cc=("Sales@Example.com",)), SUPPORT, config(to_rule))
    assert decision.department == "sales"
    assert decision.trace[0].reasons == ("to: Sales@Example.com matches sales@*",)
    news = rule("News", cond("from", "*@noreply.*", "newsletter@*"), ignore=True)
    assert route(mail(sender="x@noreply.shop.example"), SUPPORT, config(news)).ignore
    decision = route(mail(), SUPPORT, config(news))
    assert not decision.ignore
    assert decision.trace[0].reasons == (
        "from: carol@example.org does not match [*@noreply.*, newsletter@*]",
    )


def test_header_table() -> None:
    r = rule("Lists", cond("header", "\\.example\\.org>$", header="list-id"), ignore=True)
    listed = mail(headers=(("list-id", "Announce <announce.example.org>"),))
    decision = route(listed, SUPPORT, config(r))
    assert decision.ignore
    assert decision.trace[0].reasons[0].startswith('header list-id "Announce')
    decision = route(mail(), SUPPORT, config(r))
    assert not decision.ignore
    assert decision.trace[0].reasons == ("header list-id: absent",)
    several = mail(headers=(("received", "from a"), ("received", "from b.example.org>")))
    r2 = rule("Via", cond("header", "from b", header="received"), tags=("via-b",))
    assert route(several, SUPPORT, config(r2)).tags == ("via-b",)


def test_has_attachment() -> None:
    r = rule("Files", cond("has_attachment", flag=True), tags=("files",))
    assert route(mail(attachments=2), SUPPORT, config(r)).tags == ("files",)
    decision = route(mail(), SUPPORT, config(r))
    assert decision.tags == ()
    assert decision.trace[0].reasons == (
        "has_attachment: message has 0 attachment(s), wanted true",
    )
    none = rule("No files", cond("has_attachment", flag=False), tags=("plain",))
    assert route(mail(), SUPPORT, config(none)).tags == ("plain",)


def test_mailbox_condition() -> None:
    r = rule("Sales box", cond("mailbox", "sales"), priority="high")
    assert route(mail(), SALES, config(r)).priority == "high"
    decision = route(mail(), SUPPORT, config(r))
    assert decision.priority == "normal"
    assert decision.trace[0].reasons == ('mailbox "support" is not in [sales]',)


def test_no_sender_never_matches_sender_conditions() -> None:
    r = rule("Any sender", cond("from", "*"), tags=("x",))
    anonymous = ParsedMail(message_id=None, subject="", sender=None)
    decision = route(anonymous, SUPPORT, config(r))
    assert decision.tags == ()
    assert decision.trace[0].reasons == ("from: the message has no sender",)


def test_body_search_is_bounded() -> None:
    r = rule("Deep", cond("body", "needle"), tags=("found",))
    long_body = "x" * 300_000 + "needle"
    assert route(mail(text=long_body), SUPPORT, config(r)).tags == ()
    assert route(mail(text="a needle"), SUPPORT, config(r)).tags == ("found",)


def test_loaded_rules_route(tmp_path: Path) -> None:
    from mailtix.config.load import load_config

    routing = (
        '[[rule]]\nname = "Invoices"\nwhen = { subject = "INVOICE" }\n'
        'then = { department = "billing", tags = ["invoice"] }\n'
    )
    departments = '[[department]]\nname = "general"\n[[department]]\nname = "billing"\n'
    path = small_config(tmp_path, address="s@example.com", routing=routing, departments=departments)
    loaded = load_config(path, {})
    decision = route(mail(subject="your invoice"), loaded.mailboxes[0], loaded)
    assert (decision.department, decision.tags) == ("billing", ("invoice",))


# --- bounded: what a rule sees is capped, and a search that backtracks is stopped -----------------

URGENT = rule("Urgent", cond("subject", "urgent.*(down|outage)"), priority="urgent")


def test_a_280_kb_subject_of_repeated_urgent_routes_within_two_cpu_seconds() -> None:
    started = time.process_time()
    decision = route(mail(subject="urgent " * 40_000), SUPPORT, config(URGENT))
    spent = time.process_time() - started
    assert spent < 2.0, f"{spent:.1f} s of CPU"
    assert decision.priority == "normal"
    assert "(its first 1000 characters)" in decision.trace[0].reasons[0]


def test_only_the_first_1000_characters_of_the_subject_are_searched() -> None:
    near = "urgent " + "x" * 900 + " outage"
    far = "urgent " + "x" * 1_000 + " outage"
    assert route(mail(subject=near), SUPPORT, config(URGENT)).priority == "urgent"
    assert route(mail(subject=far), SUPPORT, config(URGENT)).priority == "normal"


def test_only_the_first_20000_characters_of_the_body_are_searched() -> None:
    r = rule("Deep", cond("body", "needle"), tags=("found",))
    assert route(mail(text="x" * 19_000 + "needle"), SUPPORT, config(r)).tags == ("found",)
    decision = route(mail(text="x" * 20_000 + "needle"), SUPPORT, config(r))
    assert decision.tags == ()
    assert decision.trace[0].reasons == (
        "body (its first 20000 characters) does not match /needle/",
    )


def test_header_values_are_capped_in_length_and_number() -> None:
    r = rule("Tagged", cond("header", "needle", header="x-tag"), tags=("tagged",))
    long_value = mail(headers=(("x-tag", "x" * 1_000 + "needle"),))
    assert route(long_value, SUPPORT, config(r)).tags == ()
    many = mail(headers=tuple(("x-tag", "hay") for _ in range(20)) + (("x-tag", "needle"),))
    assert route(many, SUPPORT, config(r)).tags == ()
    few = mail(headers=tuple(("x-tag", "hay") for _ in range(19)) + (("x-tag", "needle"),))
    assert route(few, SUPPORT, config(r)).tags == ("tagged",)


def test_only_the_first_100_recipients_are_tried() -> None:
    r = rule("Sales", cond("to", "sales@example.com"), department="sales")
    crowd = tuple(f"p{i}@example.org" for i in range(100))
    assert route(mail(to=(*crowd, "sales@example.com")), SUPPORT, config(r)).department == "general"
    assert (
        route(mail(to=(*crowd[:99], "sales@example.com")), SUPPORT, config(r)).department == "sales"
    )


def test_a_backtracking_body_search_is_stopped_and_counts_as_no_match() -> None:
    r = rule("Urgent body", cond("body", "urgent.*(down|outage)"), priority="urgent")
    started = time.process_time()
    decision = route(mail(text="urgent " * 3_000), SUPPORT, config(r))
    spent = time.process_time() - started
    assert spent < 1.0, f"{spent:.2f} s of CPU"
    assert decision.priority == "normal"
    assert decision.trace[0].reasons == (
        "body (its first 20000 characters): /urgent.*(down|outage)/ ran out of time; "
        "counted as no match",
    )


def test_all_searches_for_one_message_share_one_time_budget() -> None:
    slow = [rule(f"Slow {i}", cond("body", "urgent.*(down|outage)")) for i in range(12)]
    started = time.process_time()
    decision = route(mail(text="urgent " * 3_000), SUPPORT, config(*slow))
    spent = time.process_time() - started
    assert spent < 2.0, f"{spent:.2f} s of CPU for 12 slow rules"
    assert all("ran out of time" in t.reasons[0] for t in decision.trace)


def test_a_rule_that_was_fast_stays_exact_under_the_regex_engine() -> None:
    r = rule("Umlaut", cond("subject", r"\bÄnderung\b|(?<!no )refund"), tags=("t",))
    assert route(mail(subject="Änderung der Adresse"), SUPPORT, config(r)).tags == ("t",)
    assert route(mail(subject="REFUND please"), SUPPORT, config(r)).tags == ("t",)
    assert route(mail(subject="no refund"), SUPPORT, config(r)).tags == ()


def test_nested_quantifiers_are_recognised() -> None:
    for pattern in ("(a+)+", "(.*)*", r"(\w+\s?)*", "(?:x|(?:y+))*", "(a{1,3})+$"):
        assert nested_quantifier(pattern), pattern
    for pattern in ("urgent.*(down|outage)", "(ab)+", "a+b+", "(a{2})+", "(a|b)*", r"\p{L}+"):
        assert not nested_quantifier(pattern), pattern


def test_check_warns_about_nested_quantifiers_with_file_line_rule_and_key(tmp_path: Path) -> None:
    from mailtix.config.load import load_config
    from mailtix.config.rules import rule_warnings

    routing = (
        '[[rule]]\nname = "Fine"\nwhen = { subject = "invoice" }\nthen = { tags = ["a"] }\n\n'
        '[[rule]]\nname = "Words"\nwhen = { body = "(\\\\w+\\\\s?)*$", header = '
        '{ X-Tag = ["ok", "(.*)*x"] } }\nthen = { tags = ["b"] }\n'
    )
    path = small_config(tmp_path, address="s@example.com", routing=routing)
    lines = rule_warnings(load_config(path, {}))
    assert [line.split(" /")[0] for line in lines] == [
        'routing.toml:6: rule "Words": when.body:',
        'routing.toml:6: rule "Words": when.header.x-tag:',
    ]
    assert "/(\\w+\\s?)*$/ repeats a repeat" in lines[0]
    assert "/(.*)*x/" in lines[1]
