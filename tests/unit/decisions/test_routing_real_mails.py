"""routing.route over REAL mails from tests/data, with rules loaded from a real routing.toml.

Every row says which rules match and why, reasoned from the mail's own headers and text (the
comments quote what decides). The config has two mailboxes so that ``mailbox`` conditions bite.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from support.config import small_config

from mailtix.config.load import load_config
from mailtix.config.model import Config, Rule
from mailtix.decisions.routing import condition_matches, route
from mailtix.domain.values import ParsedMail, RouteDecision
from mailtix.inbound.parse import parse_message

DATA = Path(__file__).resolve().parents[2] / "data"
MAILS = DATA / "mails"
RT = DATA / "corpus" / "rt" / "t" / "data" / "emails"
ZAMMAD = DATA / "corpus" / "zammad" / "test" / "data" / "mail"

SALES = """
[[mailbox]]
name = "sales"
address = "vertrieb@example.com"
maildir = "sales-inbox"
department = "sales"
"""

DEPARTMENTS = "".join(
    f'[[department]]\nname = "{name}"\n\n'
    for name in ("general", "sales", "postmaster", "engineering", "product", "facilities", "dach")
)

# Names used in the table below.
LISTS = "Mailing lists are dropped"
BOUNCES = "Bounces get no acknowledgement"
ATTACHED = "Attachments are tagged"
OUTLOOK = "Outlook clients are tagged"
ORDERS = "Orders to the sales address"
TRACKER = "Issue tracker links"
BETA = "Beta testers"
PRINTERS = "Printers go to facilities"
LEGACY_RT = "Legacy RT address"
GERMAN = "German greetings"
ALL_RULES = (
    LISTS,
    BOUNCES,
    ATTACHED,
    OUTLOOK,
    ORDERS,
    TRACKER,
    BETA,
    PRINTERS,
    LEGACY_RT,
    GERMAN,
)

ROUTING = f"""
[[rule]]
name = "{LISTS}"
when = {{ header = {{ List-Id = 'lists\\.example\\.net' }} }}
then = {{ ignore = true }}

[[rule]]
name = "{BOUNCES}"
when = {{ from = ["mailer-daemon@*", "postmaster@*"] }}
then = {{ department = "postmaster", acknowledge = false, tags = ["bounce"] }}
continue = true

[[rule]]
name = "{ATTACHED}"
when = {{ has_attachment = true }}
then = {{ tags = ["attachment"] }}
continue = true

[[rule]]
name = "{OUTLOOK}"
when = {{ header = {{ Thread-Index = '^[A-Za-z0-9+/=]+$' }} }}
then = {{ tags = ["outlook"] }}
continue = true

[[rule]]
name = "{ORDERS}"
when = {{ mailbox = "sales", to = "vertrieb@*", subject = "Bestellung|Rechnung|Angebot" }}
then = {{ department = "sales", priority = "high", tags = ["order"] }}

[[rule]]
name = "{TRACKER}"
when = {{ body = 'example\\.com/issue/\\d+' }}
then = {{ department = "engineering", tags = ["tracker"] }}
continue = true

[[rule]]
name = "{BETA}"
when = {{ from_domain = ["example.com", "example.de"], subject = "beta|templates" }}
then = {{ department = "product", priority = "low" }}

[[rule]]
name = "{PRINTERS}"
when = {{ body = "printer|drucker" }}
then = {{ department = "facilities", priority = "urgent" }}

[[rule]]
name = "{LEGACY_RT}"
when = {{ to = ["rt@example.com", "rt-*@*"] }}
then = {{ tags = ["legacy-rt"], acknowledge = false }}
continue = true

[[rule]]
name = "{GERMAN}"
when = {{ body = "mit freundlichen grüßen|herzliche grüße" }}
then = {{ department = "dach", tags = ["deutsch"] }}
"""


@dataclass(frozen=True)
class Row:
    file: Path
    mailbox: str
    department: str
    priority: str
    tags: tuple[str, ...]
    acknowledge: bool
    ignore: bool
    matched: tuple[str, ...]


ROWS = {
    # List-Id "Announcements <announce.lists.example.net>" matches /lists\.example\.net/ →
    # ignored; that rule decides, so nothing after it is tried.
    "list-mail": Row(MAILS / "list-mail.eml", "support", "general", "normal", (), True, True,
                     (LISTS,)),
    # From mailer-daemon@mx.example.org matches "mailer-daemon@*" (postmaster, no ack, tag
    # bounce, continue); it has 2 attachments (delivery-status, rfc822-headers) → attachment.
    # No Thread-Index; not the sales mailbox; body mentions no printer/issue link/greeting;
    # To support@example.org is not rt@.
    "dsn-bounce": Row(MAILS / "dsn-bounce.eml", "support", "postmaster", "normal",
                      ("bounce", "attachment"), False, False, (BOUNCES, ATTACHED)),
    # RT's multipart/report: From mailer-daemon@other.example.com, 2 attachments
    # (message/delivery-status, message/rfc822): the same two rules, nothing else.
    "rt-multipart-report": Row(RT / "multipart-report", "support", "postmaster", "normal",
                               ("bounce", "attachment"), False, False, (BOUNCES, ATTACHED)),
    # German Zammad mail from Outlook/Exchange: Thread-Index "Ac0pEk...CAAstiNQ" → outlook;
    # From k.guenther@example.com (domain example.com) with Subject "Ticket Templates"
    # (/templates/) → product, low, and that rule decides (its body's "Rechnungen" is never
    # looked at by a later rule). No attachments.
    "zammad-german-beta": Row(ZAMMAD / "mail003.box", "support", "product", "low",
                              ("outlook",), True, False, (OUTLOOK, BETA)),
    # Zammad SAP order through the sales mailbox: one PDF attachment → attachment; To
    # vertrieb@example.com, Subject "Otto Example Bestellung 4500258840" → sales, high, order.
    "zammad-order-sales": Row(ZAMMAD / "mail094.box", "sales", "sales", "high",
                              ("attachment", "order"), True, False, (ATTACHED, ORDERS)),
    # The same order through the support mailbox: the orders rule fails on `mailbox`; the
    # body is empty, subject has no beta/templates → mailbox default "general".
    "zammad-order-support": Row(ZAMMAD / "mail094.box", "support", "general", "normal",
                                ("attachment",), True, False, (ATTACHED,)),
    # Zammad Outlook mail with a JPEG: attachment + outlook (Thread-Index "Ac2xIg...XQ==");
    # From smith@example.com but Subject "Gruß aus Oberalteich" is not beta/templates; the
    # body starts "Herzliche Grüße aus Oberalteich" → dach, deutsch (non-ASCII regex, any case).
    "zammad-gruss": Row(ZAMMAD / "mail010.box", "support", "dach", "normal",
                        ("attachment", "outlook", "deutsch"), True, False,
                        (ATTACHED, OUTLOOK, GERMAN)),
    # HTML-only mail: its text is made from the HTML, where <a href="https://example.com/
    # issue/7"> became "(https://example.com/issue/7)" → engineering, tracker. From
    # bob@example.com but Subject "HTML only" is not beta/templates; no printer, no greeting.
    "html-only": Row(MAILS / "html-only.eml", "support", "engineering", "normal",
                     ("tracker",), True, False, (TRACKER,)),
    # RT test mail sent from Outlook with an attached .eml: attachment; Thread-Index
    # "AdoBHL...nA==" → outlook; To rt@example.com → legacy-rt and no ack. From root@localhost
    # (no from_domain match); body "Could this look more spammy?" matches no body rule.
    "rt-outlook": Row(RT / "outlook-rfc822", "support", "general", "normal",
                      ("attachment", "outlook", "legacy-rt"), False, False,
                      (ATTACHED, OUTLOOK, LEGACY_RT)),
    # RT mail with an attached .eml from Apple Mail (no Thread-Index): attachment; To
    # rt@example.com → legacy-rt, no ack. Subject "This is a test" is not beta/templates.
    "rt-file-attachment": Row(RT / "email-file-attachment.eml", "support", "general", "normal",
                              ("attachment", "legacy-rt"), False, False, (ATTACHED, LEGACY_RT)),
    # Body "the printer on floor 3 prints only blank pages" → facilities, urgent (decides).
    # alice@example.com is in example.com, but Subject "Printer on floor 3 is broken" is not
    # beta/templates.
    "plain-customer": Row(MAILS / "plain-customer.eml", "support", "facilities", "urgent", (),
                          True, False, (PRINTERS,)),
    # RT mail from an old Exchange (X-Mailer "Internet Mail Service", no Thread-Index), body
    # "Mit freundlichen Grüßen" → dach, deutsch. To jesse@example.com is not rt@.
    "rt-umlaut": Row(RT / "multipart-alternative-with-umlaut", "support", "dach", "normal",
                     ("deutsch",), True, False, (GERMAN,)),
    # Out-of-office reply: Subject "Re: [#42] Printer" but the printer rule looks at the BODY
    # ("I am out of the office until Monday.") → no rule matches, mailbox defaults. (Whether
    # to acknowledge automated mail is not routing's business.)
    "auto-replied": Row(MAILS / "auto-replied.eml", "support", "general", "normal", (), True,
                        False, ()),
}  # fmt: skip


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    directory = tmp_path_factory.mktemp("routing-real")
    return load_config(
        small_config(
            directory, address="support@example.org", mailbox='department = "general"',
            departments=DEPARTMENTS, routing=ROUTING, extra=SALES,
        )
    )  # fmt: skip


def decide(config: Config, row: Row) -> tuple[ParsedMail, RouteDecision]:
    mail = parse_message(row.file.read_bytes())
    mailbox = config.mailbox(row.mailbox)
    assert mailbox is not None
    return mail, route(mail, mailbox, config)


def test_config_has_every_when_and_then_key(config: Config) -> None:
    assert tuple(r.name for r in config.rules) == ALL_RULES
    keys = {c.key for r in config.rules for c in r.when}
    assert keys == {
        "mailbox", "to", "from", "from_domain", "subject", "body", "header", "has_attachment"
    }  # fmt: skip
    actions = [r.then for r in config.rules]
    assert any(a.department for a in actions) and any(a.priority for a in actions)
    assert any(a.tags for a in actions) and any(a.ignore for a in actions)
    assert any(a.acknowledge is False for a in actions)
    assert sum(r.continue_ for r in config.rules) == 5


@pytest.mark.parametrize("name", list(ROWS))
def test_real_mail_routes_as_reasoned(config: Config, name: str) -> None:
    row = ROWS[name]
    _, decision = decide(config, row)
    got = (
        decision.department,
        decision.priority,
        decision.tags,
        decision.acknowledge,
        decision.ignore,
        decision.matched_rules,
    )
    want = (row.department, row.priority, row.tags, row.acknowledge, row.ignore, row.matched)
    assert got == want, "\n".join(f"{t.rule}: {t.matched} {t.reasons}" for t in decision.trace)


LABELS = {
    "mailbox": "mailbox ",
    "to": "to: ",
    "from": "from: ",
    "from_domain": "from_domain: ",
    "subject": "subject ",
    "body": "body ",
    "has_attachment": "has_attachment: ",
}
NEGATIONS = ("not", "absent", "none of", "no sender", "wanted false", "wanted true")


def _failing_label(rule: Rule, mail: ParsedMail, config: Config, mailbox: str) -> list[str]:
    box = config.mailbox(mailbox)
    assert box is not None
    return [
        f"header {c.header}" if c.key == "header" else LABELS[c.key]
        for c in rule.when
        if not condition_matches(c, mail, box)[0]
    ]


@pytest.mark.parametrize("name", list(ROWS))
def test_trace_has_one_entry_per_rule_and_names_the_failing_condition(
    config: Config, name: str
) -> None:
    row = ROWS[name]
    mail, decision = decide(config, row)
    assert tuple(t.rule for t in decision.trace) == ALL_RULES
    by_name = {r.name: r for r in config.rules}
    deciders = [n for n in row.matched if not by_name[n].continue_]
    after_decider = False
    for rule, trace in zip(config.rules, decision.trace, strict=True):
        assert trace.matched == (rule.name in row.matched)
        if after_decider:
            assert trace.reasons == (f"not tried: rule {deciders[0]!r} decided",)
            continue
        if trace.matched:
            assert len(trace.reasons) == len(rule.when)
            assert not any(r.startswith("not tried") for r in trace.reasons)
        else:
            failing = _failing_label(rule, mail, config, row.mailbox)
            assert failing, f"{rule.name} did not match, yet every condition holds"
            for label in failing:
                assert any(
                    r.startswith(label) and any(n in r for n in NEGATIONS) for r in trace.reasons
                ), (label, trace.reasons)
        after_decider = rule.name in deciders


def test_reasons_quote_the_mail(config: Config) -> None:
    """Spot checks of the wording an admin reads in `mailtix rules test`."""
    _, support = decide(config, ROWS["zammad-order-support"])
    orders = support.trace[ALL_RULES.index(ORDERS)]
    assert orders.reasons == (
        'mailbox "support" is not in [sales]',
        "to: vertrieb@example.com matches vertrieb@*",
        'subject "Otto Example Bestellung 4500258840" matches /Bestellung|Rechnung|Angebot/',
    )
    _, ooo = decide(config, ROWS["auto-replied"])
    assert ooo.trace[ALL_RULES.index(PRINTERS)].reasons == (
        "body does not match /printer|drucker/",
    )
    assert ooo.trace[ALL_RULES.index(LISTS)].reasons == ("header list-id: absent",)
    _, lists = decide(config, ROWS["list-mail"])
    assert lists.trace[0].reasons == (
        'header list-id "Announcements <announce.lists.example.net>" '
        "matches /lists\\.example\\.net/",
    )
    assert lists.trace[1].reasons == (f"not tried: rule {LISTS!r} decided",)


def test_two_mailbox_config_routes_by_mailbox(config: Config) -> None:
    """One and the same mail: through "sales" the orders rule decides; through "support" it
    fails on `mailbox` alone, and the support mailbox's default department applies."""
    raw = (ZAMMAD / "mail094.box").read_bytes()
    mail = parse_message(raw)
    sales, support = config.mailbox("sales"), config.mailbox("support")
    assert sales is not None and support is not None
    via_sales, via_support = route(mail, sales, config), route(mail, support, config)
    assert (via_sales.department, via_sales.priority) == ("sales", "high")
    assert ORDERS in via_sales.matched_rules and ORDERS not in via_support.matched_rules
    assert (via_support.department, via_support.priority) == ("general", "normal")
    # A mail no rule claims keeps its own mailbox's default department.
    ooo = parse_message((MAILS / "auto-replied.eml").read_bytes())
    assert route(ooo, sales, config).department == "sales"
    assert route(ooo, support, config).department == "general"
