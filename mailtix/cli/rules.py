"""``mailtix rules test FILE.eml``: which rules match a message, why, and the decision."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailtix.cli.common import config_path, print_json
from mailtix.config.load import load_config
from mailtix.domain.errors import MailtixError, UsageError

if TYPE_CHECKING:
    from mailtix.config.model import Config
    from mailtix.decisions.organisations import CustomerFacts
    from mailtix.domain.values import ParsedMail


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    rules = sub.add_parser("rules", help="routing rules").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    test = rules.add_parser(
        "test", parents=[common], help="which rules match a message and why; changes nothing"
    )
    test.add_argument("file")
    test.add_argument("--mailbox", help="as if delivered to this mailbox (default: the first)")
    test.add_argument("--json", action="store_true")
    test.set_defaults(func=explain_rules)


def explain_rules(args: argparse.Namespace) -> int:
    from mailtix.decisions import group_rewrite, routing
    from mailtix.inbound.parse import parse_message

    config = load_config(config_path(args), secrets=False)
    mailbox = config.mailbox(args.mailbox) if args.mailbox else config.mailboxes[0]
    if mailbox is None:
        raise UsageError(f"no mailbox named {args.mailbox!r}")
    try:
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    mail = group_rewrite.unwrapped(parse_message(raw), config.own_addresses)  # as the pipeline
    decision = routing.route(mail, mailbox, config, _customer(config, mail))
    decision_view: dict[str, object] = {
        "organisation": decision.organisation,
        "department": decision.department,
        "priority": decision.priority,
        "assign": decision.assign,
        "tags": list(decision.tags),
        "acknowledge": decision.acknowledge,
        "ignore": decision.ignore,
        "spam": decision.spam,
        "matched_rules": list(decision.matched_rules),
    }
    why_organisation = decision.organisation_reason
    traces = [
        {"rule": t.rule, "matched": t.matched, "reasons": list(t.reasons)} for t in decision.trace
    ]
    if args.json:
        print_json({"rules": traces, "decision": decision_view,
                    "organisation_reason": why_organisation})  # fmt: skip
        return 0
    print(f"organisation: {decision.organisation or 'none'} ({why_organisation})")
    for trace in decision.trace:
        print(f"{'MATCH' if trace.matched else 'no   '}  {trace.rule}")
        for reason in trace.reasons:
            print(f"         {reason}")
    print("decision:")
    for key, value in decision_view.items():
        print(f"  {key:<13} {value}")
    return 0


def _customer(config: Config, mail: ParsedMail) -> CustomerFacts | None:
    """The sender's facts: their customer record when the store has one (tags, organisation
    recorded by an import), else what the config alone says. A missing SQLite file is not
    created."""
    from mailtix.decisions import organisations
    from mailtix.store.customers import find_customer
    from mailtix.store.db import open_store

    if mail.sender is None:
        return None
    record, db = None, None
    url = config.store.url
    if not url.startswith("sqlite:///") or Path(url[len("sqlite:///") :]).is_file():
        try:
            db = open_store(url)
        except MailtixError:
            db = None
    if db is not None:
        try:
            record = find_customer(mail.sender.email)
        finally:
            db.close()
    return organisations.facts(
        config.organisations, mail.sender.email,
        recorded=record.organisation if record else None,
        tags=tuple(record.tags) if record else (), language=record.language if record else "",
    )  # fmt: skip
