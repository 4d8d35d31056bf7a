"""``mailtix tickets list`` and ``tickets show``: read-only views of the store."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mailtix.cli.common import open_store_view, positive, print_json, storable
from mailtix.cli.present import ticket_detail, ticket_summary
from mailtix.decisions.correlate import parse_ref
from mailtix.domain.errors import UsageError
from mailtix.report.formats import table
from mailtix.store.models import Ticket

SHOWN_KEYS = ("status", "priority", "department", "assignee", "customer", "created_at")
LIFECYCLE_KEYS = (
    "first_response_due", "first_response_at", "resolution_due", "resolved_at", "linked_ticket",
    "satisfaction", "satisfaction_comment",
)  # fmt: skip


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    tickets = sub.add_parser("tickets", help="list and show tickets").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = tickets.add_parser("list", parents=[common], help="tickets, newest first")
    listing.add_argument("--status")
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
