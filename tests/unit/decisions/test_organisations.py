"""Organisations: who belongs where (members, record, domain, subdomain, free mail, case), what
their defaults do to routing, the organisation / customer_tag conditions, the template language."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

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
from mailtix.config.organisations import (
    Organisation,
    OrganisationDirectory,
    load_organisations,
)
from mailtix.config.reader import Problems
from mailtix.decisions.organisations import facts, match
from mailtix.decisions.routing import route
from mailtix.decisions.template_language import template_language
from mailtix.domain.values import Address, ParsedMail

BIGCORP = Organisation(
    "BigCorp", domains=("bigcorp.example", "xn--mnchen-3ya.example"),
    members=("ceo@gmail.com",), department="billing", priority="high", tags=("vip",),
    language="de", notes="Key account",
)  # fmt: skip
LABS = Organisation("BigCorp Labs", domains=("labs.bigcorp.example",))
DIRECTORY = OrganisationDirectory((BIGCORP, LABS))
SUPPORT = MailboxConfig(name="support", address="support@example.com", department="general")


@pytest.mark.parametrize(
    ("email", "wanted"),
    [
        ("dana@bigcorp.example", "BigCorp"),  # domain
        ("Dana@BigCorp.EXAMPLE", "BigCorp"),  # case
        ("erin@eu.bigcorp.example", "BigCorp"),  # subdomain joins the parent's organisation
        ("lab@labs.bigcorp.example", "BigCorp Labs"),  # the longest domain wins
        ("lab@x.labs.bigcorp.example", "BigCorp Labs"),
        ("bob@münchen.example", "BigCorp"),  # IDN domain, written in Unicode
        ("CEO@gmail.com", "BigCorp"),  # member list, even at a free-mail domain
        ("someone@gmail.com", None),  # free mail never matches by domain
        ("x@notbigcorp.example", None),  # a suffix of the name is not a parent domain
        ("x@example", None),  # never a bare TLD
    ],
)
def test_match(email: str, wanted: str | None) -> None:
    assert match(DIRECTORY, email).name == wanted


def test_member_list_beats_the_domain_and_the_record_beats_the_domain() -> None:
    other = Organisation("Other", members=("dana@bigcorp.example",))
    directory = OrganisationDirectory((BIGCORP, other))
    assert match(directory, "dana@bigcorp.example", recorded="BigCorp").name == "Other"
    assert match(directory, "zed@bigcorp.example", recorded="other").name == "Other"
    assert match(directory, "zed@bigcorp.example", recorded="Gone Inc").name == "BigCorp"
    assert "free-mail" in match(directory, "x@gmail.com").reason


def config(*rules: Rule, organisations: OrganisationDirectory = DIRECTORY) -> Config:
    return Config(
        path=Path("mailtix.toml"), store=StoreConfig("sqlite:///:memory:"),
        tickets=TicketsConfig(), smtp=SmtpConfig(maildir=Path("out")), mailboxes=(SUPPORT,),
        departments=(Department("general"), Department("billing"), Department("sales")),
        agents=(), rules=rules, templates=TemplatesConfig(Path("templates")),
        organisations=organisations,
    )  # fmt: skip


def mail(sender: str) -> ParsedMail:
    return ParsedMail(message_id="<m@x>", subject="Hello", sender=Address(sender))


def test_organisation_defaults_come_before_the_rules() -> None:
    decision = route(mail("dana@bigcorp.example"), SUPPORT, config())
    assert (decision.department, decision.priority, decision.tags) == ("billing", "high", ("vip",))
    assert decision.organisation == "BigCorp"

    sales = Rule("Sales", (Condition("subject", ("hello",)),), Action("sales", tags=("lead",)))
    decision = route(mail("dana@bigcorp.example"), SUPPORT, config(sales))
    assert (decision.department, decision.priority) == ("sales", "high")  # the rule wins
    assert decision.tags == ("vip", "lead")

    decision = route(mail("carol@example.org"), SUPPORT, config(sales))
    assert (decision.department, decision.priority, decision.organisation) == (
        "sales", "normal", None,
    )  # fmt: skip


def test_organisation_and_customer_tag_conditions_explain_themselves() -> None:
    rules = (
        Rule("VIPs", (Condition("customer_tag", ("VIP",)),), Action(priority="urgent")),
        Rule("Labs", (Condition("organisation", ("bigcorp labs", "Nobody")),), Action("sales")),
    )
    cfg = config(*rules)
    tagged = facts(DIRECTORY, "dana@bigcorp.example", tags=("vip",))
    decision = route(mail("dana@bigcorp.example"), SUPPORT, cfg, tagged)
    assert decision.matched_rules == ("VIPs",) and decision.priority == "urgent"
    assert decision.trace[0].reasons == ('customer_tag: the customer is tagged "vip"',)

    decision = route(mail("lab@labs.bigcorp.example"), SUPPORT, cfg)
    assert decision.matched_rules == ("Labs",)
    assert "customer_tag: the customer has no tags" in decision.trace[0].reasons[0]
    assert decision.trace[1].reasons[0].startswith('organisation: organisation "BigCorp Labs" is')

    decision = route(mail("someone@gmail.com"), SUPPORT, cfg)
    assert decision.matched_rules == ()
    assert "no organisation is not in" in decision.trace[1].reasons[0]
    assert "free-mail" in decision.trace[1].reasons[0]


@pytest.mark.parametrize(
    ("customer", "organisation", "mailbox", "wanted"),
    [
        ("fr", "de", "en", "fr"),
        ("", "de", "en", "de"),
        ("", "", "en", "en"),
        ("", "", "", ""),
        ("../etc", "DE", "", "de"),  # not a tag: skipped; tags are lower-cased
        ("pt_BR", "", "", "pt-br"),
    ],
)
def test_template_language(customer: str, organisation: str, mailbox: str, wanted: str) -> None:
    assert template_language(customer, organisation, mailbox) == wanted


def test_load_checks_every_organisation_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "organisations.toml"
    path.write_text(
        '[[organisation]]\nname = "BigCorp"\ndomains = ["BigCorp.example", "gmail.com"]\n'
        'members = ["CEO@Gmail.com", "nope"]\nlanguage = "DE"\n\n'
        '[[organisation]]\nname = "Dup"\ndomains = ["bigcorp.example"]\ndepartment = "x"\n'
        'priority = "hot"\n',
        encoding="utf-8",
    )
    problems = Problems()
    found = load_organisations(path, "organisations.toml", problems, frozenset({"billing"}))
    assert problems.lines == [
        'organisations.toml:1: organisation "BigCorp" (organisation[0]).domains[1]: "gmail.com" '
        "is a free-mail domain: anyone can have an address there; list the organisation's "
        "people in members instead",
        'organisations.toml:1: organisation "BigCorp" (organisation[0]).members[1]: must be '
        'an email address, got "nope"',
        'organisations.toml:7: organisation "Dup" (organisation[1]).department: unknown '
        'department "x" (defined: billing)',
        'organisations.toml:7: organisation "Dup" (organisation[1]).priority: must be one of '
        'low | normal | high | urgent, got "hot"',
        'organisations.toml:7: organisation "Dup" (organisation[1]).domains[0]: '
        '"bigcorp.example" already belongs to organisation "BigCorp"',
    ]
    bigcorp = found.named("bigcorp")
    assert bigcorp is not None
    assert (bigcorp.domains, bigcorp.members, bigcorp.language) == (
        ("bigcorp.example",), ("ceo@gmail.com",), "de",
    )  # fmt: skip
    assert replace(bigcorp, notes="") == bigcorp  # no notes given


def test_a_language_without_templates_is_a_warning(tmp_path: Path) -> None:
    from mailtix.config.organisations import language_warnings

    (tmp_path / "de").mkdir()
    directory = OrganisationDirectory(
        (replace(BIGCORP, language="de"), Organisation("Paris SA", language="fr"), LABS)
    )
    assert language_warnings(directory, tmp_path, "orgs.toml") == [
        f'orgs.toml: organisation "Paris SA": language: no {tmp_path / "fr"}/ directory '
        "(nor a shipped one); its customers get the default templates"
    ]


def test_a_shipped_language_is_no_warning(tmp_path: Path) -> None:
    """A fresh `mailtix init` has an empty templates/ and BigCorp speaking German, which ships."""
    from mailtix.config.organisations import language_warnings

    mine, shipped = tmp_path / "templates", tmp_path / "shipped"
    mine.mkdir()
    (shipped / "de").mkdir(parents=True)
    directory = OrganisationDirectory(
        (replace(BIGCORP, language="de"), Organisation("Paris SA", language="fr"))
    )
    lines = language_warnings(directory, mine, "orgs.toml", shipped)
    assert [line.split(":")[1] for line in lines] == [' organisation "Paris SA"']
