"""CLI handlers for ``mailtix outbox suppressions`` and ``mailtix outbox unsuppress``."""

from __future__ import annotations

import argparse

from mailtix.cli.main import Handler
from mailtix.cli.output import config_path, print_json
from mailtix.cli.present import table
from mailtix.decisions.correlate import format_ref
from mailtix.domain.clock import iso, utcnow
from mailtix.domain.errors import UsageError
from mailtix.runtime.app import App
from mailtix.store import suppressions


def cmd_outbox_suppressions(args: argparse.Namespace) -> int:
    app = App.open(config_path(args), secrets=False)
    tickets = app.config.tickets
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


def cmd_outbox_unsuppress(args: argparse.Namespace) -> int:
    App.open(config_path(args), secrets=False)
    if not suppressions.clear(args.address, utcnow(), actor="mailtix outbox unsuppress"):
        raise UsageError(f"{args.address} is not suppressed")
    print(f"{args.address.strip().lower()}: automatic mail goes to it again")
    return 0


HANDLERS: dict[str, Handler] = {
    "outbox suppressions": cmd_outbox_suppressions,
    "outbox unsuppress": cmd_outbox_unsuppress,
}
