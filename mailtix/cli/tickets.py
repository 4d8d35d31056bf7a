"""``mailtix tickets list``, ``show`` and ``search``: read-only views of the store; ``tickets
merge A INTO`` merges a duplicate ticket (``lifecycle.merge``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mailtix.cli.common import open_store_view, positive, print_json, storable
from mailtix.cli.present import ticket_detail, ticket_summary
from mailtix.decisions.correlate import format_ref, parse_ref
from mailtix.domain.errors import UsageError
from mailtix.domain.vocabulary import Status
from mailtix.report.formats import table
from mailtix.store.models import Ticket

SHOWN_KEYS = ("status", "priority", "department", "assignee", "customer", "created_at")
LIFECYCLE_KEYS = (
    "first_response_due", "first_response_at", "resolution_due", "resolved_at", "linked_ticket",
    "satisfaction", "satisfaction_comment", "merged_into", "snoozed_until",
)  # fmt: skip


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    tickets = sub.add_parser("tickets", help="list and show tickets").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = tickets.add_parser("list", parents=[common], help="tickets, newest first")
    listing.add_argument("--status", choices=[s.value for s in Status])
    listing.add_argument("--department")
    listing.add_argument(
        "--limit", type=positive, default=100, metavar="N", help="at most N tickets (default 100)"
    )
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=list_tickets)
    show = tickets.add_parser(
        "show", parents=[common], help="one ticket with its messages and events"
    )
    show.add_argument("ref", help="SUP-42 or 42")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=show_ticket)
    search = tickets.add_parser(
        "search", parents=[common], help="full text over subjects and messages, newest first"
    )
    search.add_argument("words", nargs="+", help="words, each matching as a word prefix")
    search.add_argument(
        "--limit", type=positive, default=50, metavar="N", help="at most N tickets (default 50)"
    )
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=search_tickets)
    merge = tickets.add_parser(
        "merge", parents=[common], help="merge ticket A into ticket INTO (A is closed)"
    )
    merge.add_argument("ref", help="the duplicate: SUP-42 or 42")
    merge.add_argument("into", help="the ticket that takes over its messages and people")
    merge.set_defaults(func=merge_tickets)


def list_tickets(args: argparse.Namespace) -> int:
    view = open_store_view(args)
    query = Ticket.select()
    if args.status:
        query = query.where(Ticket.status == args.status)
    if args.department:
        query = query.where(Ticket.department == args.department)
    prefix = view.config.tickets.prefix
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


def show_ticket(args: argparse.Namespace) -> int:
    view = open_store_view(args)
    prefix = view.config.tickets.prefix
    number = parse_ref(prefix, args.ref)
    ticket = Ticket.get_or_none(Ticket.id == number) if storable(number) else None
    if ticket is None:
        raise UsageError(f"no ticket {args.ref}")
    data = ticket_detail(ticket, prefix)
    if args.json:
        print_json(data)
        return 0
    print(f"[{data['ref']}] {data['subject']}")
    fields = [(key, data[key] or "-") for key in SHOWN_KEYS]
    fields += [(key, data[key]) for key in LIFECYCLE_KEYS if data.get(key) is not None]
    if data.get("organisation"):
        fields.append(("organisation", data["organisation"]))
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


def search_tickets(args: argparse.Namespace) -> int:
    from mailtix.store.search_index import matching_tickets, search_words

    view = open_store_view(args)
    prefix = view.config.tickets.prefix
    query = " ".join(args.words)
    if not search_words(query):
        raise UsageError("tickets search: give at least one word of letters or digits")
    ids = matching_tickets(query, args.limit)
    found = Ticket.select().where(Ticket.id.in_(ids)).order_by(Ticket.id.desc())
    items = [ticket_summary(t, prefix) for t in found]
    if args.json:
        print_json(items)
        return 0
    rows = [[i["ref"], i["status"], i["customer"], i["subject"]] for i in items]
    print(table(rows, ["REF", "STATUS", "CUSTOMER", "SUBJECT"]) if rows else "no tickets found")
    return 0


def merge_tickets(args: argparse.Namespace) -> int:
    from mailtix.domain.clock import utcnow
    from mailtix.lifecycle.merge import merge, merge_problem
    from mailtix.store.models import database_proxy

    view = open_store_view(args)
    prefix = view.config.tickets.prefix
    source = _ticket_arg(args.ref, prefix)
    target = _ticket_arg(args.into, prefix, must=False)
    assert source is not None
    target_ref = args.into if target is None else format_ref(prefix, target.id)
    problem = merge_problem(source, target, target_ref, prefix)
    if problem:
        raise UsageError(problem)
    assert target is not None
    with database_proxy.atomic():
        said = merge(source, target, utcnow(), prefix=prefix, sla=view.config.sla,
                     actor="admin (mailtix tickets merge)")  # fmt: skip
    print(said)
    return 0


def _ticket_arg(ref: str, prefix: str, *, must: bool = True) -> Ticket | None:
    number = parse_ref(prefix, ref)
    ticket = Ticket.get_or_none(Ticket.id == number) if storable(number) else None
    if ticket is None and must:
        raise UsageError(f"no ticket {ref}")
    return ticket
