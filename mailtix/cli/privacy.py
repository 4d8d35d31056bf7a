"""``mailtix privacy export ADDRESS --output FILE.zip`` and ``mailtix privacy erase ADDRESS
[--dry-run]``: a person's copy of their data, and its erasure from the store and the mailboxes'
processed and quarantine folders (``mailtix.privacy``)."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from mailtix.cli.common import config_path, open_store_view
from mailtix.config.model import Config
from mailtix.config.reader import is_email
from mailtix.domain.clock import utcnow
from mailtix.domain.errors import MailtixError, UsageError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    privacy = sub.add_parser("privacy", help="a person's data: export, erase").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    export = privacy.add_parser(
        "export", parents=[common], help="everything stored about ADDRESS, as a zip"
    )
    export.add_argument("address")
    export.add_argument("--output", required=True, help="the zip to write (0600)")
    export.set_defaults(func=export_person)
    erase = privacy.add_parser(
        "erase", parents=[common], help="remove every trace of ADDRESS (store and mailboxes)"
    )
    erase.add_argument("address")
    erase.add_argument("--dry-run", action="store_true", help="count, change nothing")
    erase.set_defaults(func=erase_person)


def _address(text: str, config: Config) -> str:
    address = text.strip()
    if not is_email(address):
        raise UsageError(f'not an email address: "{text}"')
    if address.lower() in config.own_addresses:
        raise UsageError(f"{address} is a mailbox address of this help desk, not a person")
    if config.agent(address) is not None:
        raise UsageError(f"{address} is an agent in departments.toml; erase is for customers")
    return address


def export_person(args: argparse.Namespace) -> int:
    from mailtix.privacy.export import gather, write_zip

    view = open_store_view(args)
    address = _address(args.address, view.config)
    export = gather(address, view.config.tickets.prefix, utcnow())
    output = Path(args.output)
    try:
        size = write_zip(export, output)
    except FileExistsError:
        raise UsageError(f"{output}: already exists; export overwrites nothing") from None
    except OSError as exc:
        raise MailtixError(f"{output}: cannot write the export: {exc.strerror or exc}") from None
    tickets = export.document["tickets"]
    messages = sum(len(t["messages"]) for t in tickets)
    print(f"{output}: {len(tickets)} ticket(s), {messages} message(s), "
          f"{len(export.files)} .eml file(s), {size} bytes")  # fmt: skip
    return 0


def erase_person(args: argparse.Namespace) -> int:
    from mailtix.config.load import load_config
    from mailtix.privacy.erase import erase, find_person, record_erase
    from mailtix.privacy.mail_copies import erase_copies
    from mailtix.store import open_store

    config = load_config(config_path(args))
    address = _address(args.address, config)
    open_store(config.store.url)
    now = utcnow()
    person = find_person(address)
    # the mailboxes first: the Message-IDs that find their copies are in the store
    copies = erase_copies(config, person.who, person.message_ids, dry_run=args.dry_run)
    verb = "would change" if args.dry_run else "changed"
    if copies.errors and not args.dry_run:
        for where, n in copies.found.items():
            print(f"mail copies in {where}: {n} {verb}")
        for error in copies.errors:
            print(f"mailtix: {error}", file=sys.stderr)
        print("mailtix: the store was not changed; run the erase again when every mailbox "
              "can be reached", file=sys.stderr)  # fmt: skip
        return 1
    counts = erase(person, now, dry_run=args.dry_run)
    counts += [(f"mail copies in {where}", n) for where, n in copies.found.items()]
    for kind, n in counts:
        print(f"{kind}: {n} {verb}")
    for error in copies.errors:
        print(f"mailtix: {error}", file=sys.stderr)
    if not args.dry_run and any(n for _, n in counts):
        number = record_erase(counts, now, actor=f"cli:{getpass.getuser()}")
        print(f"recorded as privacy event {number} (counts only, no address)")
    return 1 if copies.errors else 0
