"""``mailtix quarantine list|retry``: messages that could not be processed, with the reason;
with ``--kept`` (or ``--all``) the spam and ignored mail kept because no folder holds it."""

from __future__ import annotations

import argparse
from typing import Any

from mailtix.cli.common import open_app, open_store_view, print_json, storable
from mailtix.domain.clock import iso
from mailtix.domain.errors import UsageError
from mailtix.domain.vocabulary import QuarantineStatus
from mailtix.report.formats import table
from mailtix.store.models import QuarantineItem


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    quarantine = sub.add_parser(
        "quarantine", help="messages that could not be processed"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = quarantine.add_parser(
        "list", parents=[common], help="held and released messages with the reason"
    )
    listing.add_argument("--json", action="store_true")
    which = listing.add_mutually_exclusive_group()
    which.add_argument(
        "--kept", action="store_true", help="only the spam and ignored mail kept (LMTP, ingest)"
    )
    which.add_argument("--all", action="store_true", help="held, released and kept")
    listing.set_defaults(func=list_quarantine)
    retry = quarantine.add_parser(
        "retry", parents=[common],
        help="run a held message through the pipeline again; a kept one becomes a ticket",
    )  # fmt: skip
    retry.add_argument("id", type=int)
    retry.set_defaults(func=retry_quarantined)


def list_quarantine(args: argparse.Namespace) -> int:
    open_store_view(args)
    query = QuarantineItem.select().order_by(QuarantineItem.id)
    if args.kept:
        query = query.where(QuarantineItem.status == QuarantineStatus.KEPT)
    elif not args.all:
        query = query.where(QuarantineItem.status != QuarantineStatus.KEPT)
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


def retry_quarantined(args: argparse.Namespace) -> int:
    from mailtix.desks.release import retry
    from mailtix.outbound import outbox
    from mailtix.outbound.accounts import send_accounts

    app = open_app(args)
    item = QuarantineItem.get_or_none(QuarantineItem.id == args.id) if storable(args.id) else None
    if item is None:
        raise UsageError(f"no quarantined message {args.id}")
    if item.rfc822 is None:
        polled = [m for m in app.config.mailboxes if m.name == item.mailbox and m.polled]
        hint = "".join(
            f"; to take it after all, raise max_message_bytes and move it from "
            f"{m.quarantine_folder} back to {m.folder}: the next poll reads it"
            for m in polled
        )
        raise UsageError(f"message {args.id} was never downloaded ({item.reason}){hint}")
    app.mailbox(item.mailbox)  # a mailbox since removed from the config: one line, exit 2
    kept = item.status == QuarantineStatus.KEPT
    outcome = retry(app.pipeline, item)
    print(f"{outcome.kind} {outcome.ticket_ref or ''} {outcome.detail}".strip())
    outbox.drain(send_accounts(app.config), app.clock)
    if kept and item.status == QuarantineStatus.KEPT and outcome.kind != "deferred":
        print(f"message {item.id} stays kept: it is not a mail a ticket can be made of")
    return 0 if item.status == QuarantineStatus.RELEASED else 1
