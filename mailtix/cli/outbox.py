"""``mailtix outbox list|retry|suppressions|unsuppress``: outgoing mail and the addresses held
back from automatic mail after a permanent bounce."""

from __future__ import annotations

import argparse
from typing import Any

from mailtix.cli.common import open_store_view, print_json, storable
from mailtix.cli.present import outbox_dict
from mailtix.decisions.correlate import format_ref
from mailtix.domain.clock import iso, utcnow
from mailtix.domain.errors import UsageError
from mailtix.report.formats import table
from mailtix.store import suppressions
from mailtix.store.claims import make_due
from mailtix.store.models import OutboxItem


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    box = sub.add_parser("outbox", help="outgoing mail").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = box.add_parser(
        "list", parents=[common], help="pending and failed mail with the last error"
    )
    listing.add_argument("--all", action="store_true", help="include sent mail")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=list_outbox)
    retry = box.add_parser("retry", parents=[common], help="make a row (or --all) due now")
    retry.add_argument("id", nargs="?", type=int)
    retry.add_argument("--all", action="store_true")
    retry.set_defaults(func=retry_outbox)
    held = box.add_parser(
        "suppressions", parents=[common],
        help="addresses that get no automatic mail after a permanent bounce, and until when",
    )  # fmt: skip
    held.add_argument("--json", action="store_true")
    held.set_defaults(func=list_suppressions)
    clear = box.add_parser(
        "unsuppress", parents=[common], help="let automatic mail go to ADDRESS again"
    )
    clear.add_argument("address")
    clear.set_defaults(func=unsuppress)


def list_outbox(args: argparse.Namespace) -> int:
    view = open_store_view(args)
    query = OutboxItem.select().order_by(OutboxItem.id)
    if not args.all:
        query = query.where(OutboxItem.status != "sent")
    items = [outbox_dict(i, view.config.tickets.prefix) for i in query]
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


def retry_outbox(args: argparse.Namespace) -> int:
    if args.id is None and not args.all:
        raise UsageError("outbox retry needs an ID or --all")
    open_store_view(args)
    if not args.all and not storable(args.id):
        raise UsageError(f"no outbox row {args.id}")
    count = make_due(None if args.all else args.id, utcnow())
    if count == 0 and not args.all:
        raise UsageError(f"no outbox row {args.id}")
    print(f"{count} row(s) due now; they go out with the next poll or `mailtix run`")
    return 0


def list_suppressions(args: argparse.Namespace) -> int:
    tickets = open_store_view(args).config.tickets
    held = suppressions.in_force(utcnow(), tickets.suppression_days)
    items = [
        {
            "address": h.address,
            "reason": h.reason,
            "ticket": format_ref(tickets.prefix, h.ticket_id) if h.ticket_id else None,
            "since": iso(h.since),
            "until": iso(h.until),
        }
        for h in held
    ]
    if args.json:
        print_json(items)
        return 0
    rows = [
        [str(i["address"]), str(i["until"]), str(i["ticket"] or "-"), str(i["reason"])]
        for i in items
    ]
    print(table(rows, ["ADDRESS", "UNTIL", "TICKET", "REASON"]))
    return 0


def unsuppress(args: argparse.Namespace) -> int:
    open_store_view(args)
    if not suppressions.clear(args.address, utcnow(), actor="mailtix outbox unsuppress"):
        raise UsageError(f"{args.address} is not suppressed")
    print(f"{args.address.strip().lower()}: automatic mail goes to it again")
    return 0
