"""Handlers for each CLI command: thin calls into the library, printing the results."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Any

from mailtix.cli.main import Handler
from mailtix.cli.output import config_path, print_json
from mailtix.cli.present import outbox_dict, table, ticket_detail, ticket_summary
from mailtix.cli.terminal_text import json_safe
from mailtix.config.load import load_config
from mailtix.config.model import Config, MailboxConfig, SmtpConfig
from mailtix.config.rules import rule_warnings
from mailtix.decisions import routing
from mailtix.decisions.correlate import format_ref, parse_ref
from mailtix.desks.pipeline import Source
from mailtix.domain.clock import iso, utcnow
from mailtix.domain.errors import MailtixError, UsageError
from mailtix.domain.private_files import write_private
from mailtix.inbound.bounded_read import read_at_most
from mailtix.inbound.imap_source import ImapSource
from mailtix.inbound.maildir_source import missing_parts
from mailtix.inbound.parse import parse_message
from mailtix.outbound import outbox
from mailtix.runtime.app import App, ingest, poll_cycle
from mailtix.runtime.exposure import exposure_warnings
from mailtix.store.models import OutboxItem, QuarantineItem, Ticket, database_proxy

EX_TEMPFAIL = 75  # sysexits.h: the MTA keeps the message and delivers it again later
MAX_ROW_ID = 2**63 - 1  # SQLite INTEGER and PostgreSQL bigint: no row has a larger id


def _storable(number: int | None) -> bool:
    """Whether ``number`` could be a row id at all (a larger one overflows the driver)."""
    return number is not None and 0 < number <= MAX_ROW_ID


def _app(args: argparse.Namespace) -> App:
    return App.open(config_path(args))


def _store_app(args: argparse.Namespace) -> App:
    """For commands that only read or mark the store: they need no server password."""
    return App.open(config_path(args), secrets=False)


def cmd_demo(args: argparse.Namespace) -> int:
    from mailtix.cli.demo import run_demo

    return run_demo(Path(args.dir) if args.dir else None)


def cmd_run(args: argparse.Namespace) -> int:
    from mailtix.runtime.daemon import Daemon

    Daemon(_app(args)).run_forever()
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    result = poll_cycle(_app(args))
    for poll in result.polls:
        print(poll.summary())
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    sent = ", ".join(f"{n} {k}" for k, n in sorted(result.sent.items())) or "nothing to send"
    print(f"outbox: {result.send_error or sent}")
    deferred = sum(p.outcomes.get("deferred", 0) for p in result.polls)
    return 1 if result.errors or result.send_error or deferred else 0


def cmd_ingest(args: argparse.Namespace) -> int:
    app = _app(args)
    mailbox = app.mailbox(args.mailbox)
    try:
        with open(args.file, "rb") if args.file else nullcontext(sys.stdin.buffer) as stream:
            raw, size = read_at_most(stream, mailbox.max_message_bytes)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    if raw is None:  # quarantined with its size and no bytes, as the poller does
        outcome = app.pipeline.quarantine_oversized(Source(mailbox.name), size)
    else:
        outcome = ingest(app, mailbox.name, raw)
    print(f"{outcome.kind} {outcome.ticket_ref or ''} {outcome.detail}".strip())
    outbox.drain(app.config.smtp, app.clock)
    return EX_TEMPFAIL if outcome.kind == "deferred" else 0


def cmd_check(args: argparse.Namespace) -> int:
    from mailtix.outbound.render import KINDS, check_templates

    config = load_config(config_path(args))
    problems = check_templates(config.templates.dir, KINDS, [d.name for d in config.departments])
    reached: list[str] = []
    notes: list[str] = []
    if args.connect:
        reached, failed, notes = _connect_all(config)
        problems += failed
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 2
    warnings = exposure_warnings(config) + rule_warnings(config)
    for line in warnings:  # warnings, not problems: the exit code stays 0
        print(line, file=sys.stderr)
    for note in notes:
        print(note)
    print(
        f"ok: {len(config.mailboxes)} mailbox(es), {len(config.departments)} department(s), "
        f"{len(config.agents)} agent(s), {len(config.rules)} rule(s)"
        + (f"; connected to {', '.join(reached)}" if args.connect else "")
    )
    return 0


def _connect_all(config: Config) -> tuple[list[str], list[str], list[str]]:
    """Log in to (or open) every mailbox and the SMTP server, then leave, changing nothing:
    what was reached, one line per problem, and one line per mailbox whose first poll would
    create folders."""
    smtp = config.smtp
    checks: list[tuple[str, str, Callable[[], list[str]]]] = [
        (f"mailbox {m.name}", f" ({m.host}:{m.port})" if m.maildir is None else "",
         partial(_would_create, m))
        for m in config.mailboxes
    ]  # fmt: skip
    if smtp.maildir is None:
        checks.append((f"smtp {smtp.host}:{smtp.port}", "", partial(_log_in_to_smtp, smtp)))
    reached: list[str] = []
    problems: list[str] = []
    notes: list[str] = []
    for name, where, connect in checks:
        try:
            missing = connect()
        except MailtixError as exc:
            problems.append(f"connect: {name}: {exc}")
        else:
            reached.append(name + where)
            if missing:
                notes.append(f"{name}: would create {', '.join(missing)} (the first poll does)")
    return reached, problems, notes


def _log_in_to_smtp(smtp: SmtpConfig) -> list[str]:
    from mailtix.outbound.smtp_sender import check_connection

    asyncio.run(check_connection(smtp))
    return []  # a check sends nothing


def _would_create(mailbox: MailboxConfig) -> list[str]:
    """Log in to (or look at) a mailbox without changing it: what its first poll would create."""
    if mailbox.maildir is not None:
        return missing_parts(mailbox)
    with ImapSource(mailbox, create_folders=False) as source:
        return source.missing_folders()


def cmd_tickets_list(args: argparse.Namespace) -> int:
    app = _store_app(args)
    query = Ticket.select()
    if args.status:
        query = query.where(Ticket.status == args.status)
    if args.department:
        query = query.where(Ticket.department == args.department)
    prefix = app.config.tickets.prefix
    items = [ticket_summary(t, prefix) for t in query.order_by(Ticket.id.desc()).limit(args.limit)]
    if len(items) == args.limit and (total := query.count()) > len(items):
        print(
            f"mailtix: the newest {len(items)} of {total} tickets; --limit N shows more",
            file=sys.stderr,
        )
    if args.json:
        print_json(items)
        return 0
    rows = [
        [i["ref"], i["status"], i["priority"], i["department"], i["customer"], i["subject"]]
        for i in items
    ]
    print(table(rows, ["REF", "STATUS", "PRIORITY", "DEPARTMENT", "CUSTOMER", "SUBJECT"]))
    return 0


def cmd_tickets_show(args: argparse.Namespace) -> int:
    app = _store_app(args)
    prefix = app.config.tickets.prefix
    number = parse_ref(prefix, args.ref)
    ticket = Ticket.get_or_none(Ticket.id == number) if _storable(number) else None
    if ticket is None:
        raise UsageError(f"no ticket {args.ref}")
    data = ticket_detail(ticket, prefix)
    if args.json:
        print_json(data)
        return 0
    print(f"[{data['ref']}] {data['subject']}")
    fields = [(key, data[key] or "-") for key in SHOWN_KEYS]
    fields += [(key, data[key]) for key in LIFECYCLE_KEYS if data.get(key) is not None]
    fields.append(("participants", ", ".join(data["participants"])))
    width = max(len(key) for key, _ in fields)
    for key, value in fields:
        print(f"  {key:<{width}} {value}")
    for m in data["messages"]:
        flag = " UNVERIFIED (not from the agent it claims)" if m["verified"] is False else ""
        print(f"\n--- {m['created_at']} {m['direction']} {m['kind']}{flag} from {m['from']}")
        print(f"    subject: {m['subject']}")
        for line in m["text"].strip().splitlines()[:40]:
            print(f"    {line}")
        for a in m["attachments"]:
            print(f"    [attachment] {a['filename']} ({a['content_type']}, {a['size']} bytes)")
    print("\nevents:")
    for e in data["events"]:
        print(f"  {e['at']} {e['type']}: {e['detail']}")
    return 0


SHOWN_KEYS = ("status", "priority", "department", "assignee", "customer", "created_at")
LIFECYCLE_KEYS = (
    "first_response_due", "first_response_at", "resolution_due", "resolved_at", "linked_ticket",
    "satisfaction", "satisfaction_comment",
)  # fmt: skip


def cmd_jobs_run(args: argparse.Namespace) -> int:
    from mailtix.lifecycle.jobs import parse_at, run_jobs

    now = parse_at(args.at) if args.at else utcnow()
    app = _app(args)
    for result in run_jobs(app, now):
        print(result.line())
    sent = outbox.drain(app.config.smtp, lambda: max(now, app.clock()))  # mail queued at TIME
    sent_text = ", ".join(f"{n} {k}" for k, n in sorted(sent.items()))
    print(f"outbox: {sent_text or 'nothing to send'}")
    return 0


def cmd_rules_test(args: argparse.Namespace) -> int:
    config = load_config(config_path(args), secrets=False)
    mailbox = config.mailbox(args.mailbox) if args.mailbox else config.mailboxes[0]
    if mailbox is None:
        raise UsageError(f"no mailbox named {args.mailbox!r}")
    mail = parse_message(Path(args.file).read_bytes())
    decision = routing.route(mail, mailbox, config)
    decision_view: dict[str, object] = {
        "department": decision.department,
        "priority": decision.priority,
        "assign": decision.assign,
        "tags": list(decision.tags),
        "acknowledge": decision.acknowledge,
        "ignore": decision.ignore,
        "matched_rules": list(decision.matched_rules),
    }
    traces = [
        {"rule": t.rule, "matched": t.matched, "reasons": list(t.reasons)} for t in decision.trace
    ]
    result = {"rules": traces, "decision": decision_view}
    if args.json:
        print_json(result)
        return 0
    for trace in decision.trace:
        print(f"{'MATCH' if trace.matched else 'no   '}  {trace.rule}")
        for reason in trace.reasons:
            print(f"         {reason}")
    print("decision:")
    for key, value in decision_view.items():
        print(f"  {key:<13} {value}")
    return 0


def cmd_outbox_list(args: argparse.Namespace) -> int:
    app = _store_app(args)
    query = OutboxItem.select().order_by(OutboxItem.id)
    if not args.all:
        query = query.where(OutboxItem.status != "sent")
    items = [outbox_dict(i, app.config.tickets.prefix) for i in query]
    if args.json:
        print_json(items)
        return 0
    rows = [
        [
            str(i["id"]),
            i["status"],
            i["ticket"] or "-",
            i["kind"],
            ", ".join(i["recipients"]),
            str(i["attempts"]),
            i["last_error"] or "-",
        ]
        for i in items
    ]
    print(table(rows, ["ID", "STATUS", "TICKET", "KIND", "TO", "TRIES", "LAST ERROR"]))
    return 0


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    if args.id is None and not args.all:
        raise UsageError("outbox retry needs an ID or --all")
    _store_app(args)
    if not args.all and not _storable(args.id):
        raise UsageError(f"no outbox row {args.id}")
    count = outbox.retry(None if args.all else args.id, utcnow())
    if count == 0 and not args.all:
        raise UsageError(f"no outbox row {args.id}")
    print(f"{count} row(s) due now; they go out with the next poll or `mailtix run`")
    return 0


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    _store_app(args)
    query = QuarantineItem.select().order_by(QuarantineItem.id)
    items: list[dict[str, Any]] = [
        {
            "id": q.id,
            "mailbox": q.mailbox,
            "uid": q.uid,
            "status": q.status,
            "size": q.size,
            "reason": q.reason,
            "created_at": iso(q.created_at),
        }
        for q in query
    ]
    if args.json:
        print_json(items)
        return 0
    rows = [
        [str(i["id"]), i["status"], i["mailbox"], str(i["uid"] or "-"), i["reason"]] for i in items
    ]
    print(table(rows, ["ID", "STATUS", "MAILBOX", "UID", "REASON"]))
    return 0


def cmd_quarantine_retry(args: argparse.Namespace) -> int:
    app = _app(args)
    item = QuarantineItem.get_or_none(QuarantineItem.id == args.id) if _storable(args.id) else None
    if item is None:
        raise UsageError(f"no quarantined message {args.id}")
    if item.rfc822 is None:
        raise UsageError(f"message {args.id} was never downloaded ({item.reason})")
    outcome = app.pipeline.process(bytes(item.rfc822), Source(item.mailbox), retry=True)
    if outcome.kind != "quarantined":
        with database_proxy.atomic():
            item.status = "released"
            item.save()
    print(f"{outcome.kind} {outcome.ticket_ref or ''} {outcome.detail}".strip())
    outbox.drain(app.config.smtp, app.clock)
    return 0 if outcome.kind != "quarantined" else 1


def cmd_report(args: argparse.Namespace) -> int:
    from mailtix.report.command import run_report

    app = _store_app(args)
    text = run_report(app, args.since, args.until, args.format, utcnow())
    text = json_safe(text) if args.format == "json" else text  # exact data, safe to print
    if args.output:
        write_private(Path(args.output), text)
        print(f"report written to {args.output}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


HANDLERS: dict[str, Handler] = {
    "demo": cmd_demo,
    "run": cmd_run,
    "poll": cmd_poll,
    "ingest": cmd_ingest,
    "check": cmd_check,
    "tickets list": cmd_tickets_list,
    "tickets show": cmd_tickets_show,
    "rules test": cmd_rules_test,
    "outbox list": cmd_outbox_list,
    "outbox retry": cmd_outbox_retry,
    "quarantine list": cmd_quarantine_list,
    "quarantine retry": cmd_quarantine_retry,
    "report": cmd_report,
    "jobs run": cmd_jobs_run,
}

__all__ = ["HANDLERS", "format_ref"]
