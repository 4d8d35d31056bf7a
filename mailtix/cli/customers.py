"""``mailtix customers list``, ``show`` and ``import``: the customer records and the
organisation each belongs to (``decisions.organisations``).

``import FILE.csv`` takes the columns email,name,organisation,language,tags (a header row
naming them; tags separated by ``;`` or ``|``), creates or updates one record per row and is
idempotent. A bad row is one line ``FILE:LINE: why`` on stderr and is skipped; the good rows
are imported all the same, and the exit code is then 1 (some rows were not imported).
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from pathlib import Path
from typing import Any

from mailtix.cli.common import open_store_view, print_json
from mailtix.cli.present import ticket_summary
from mailtix.config.model import Config
from mailtix.config.reader import is_email
from mailtix.decisions import organisations
from mailtix.domain.addresses import address_key
from mailtix.domain.clock import iso, utcnow
from mailtix.domain.errors import UsageError
from mailtix.domain.languages import language_tag
from mailtix.report.formats import table
from mailtix.store.customers import ImportRow, find_customer, import_customer
from mailtix.store.models import Customer, Ticket, database_proxy

COLUMNS = ("email", "name", "organisation", "language", "tags")
MAX_ROWS = 100_000
MAX_FIELD = 1_000
TAG_SPLIT = re.compile(r"[;|]")
MAX_TAGS = 20
MAX_TAG = 50


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    customers = sub.add_parser("customers", help="customer records").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = customers.add_parser("list", parents=[common], help="customers, newest seen first")
    listing.add_argument("--organisation", metavar="NAME")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=list_customers)
    show = customers.add_parser("show", parents=[common], help="one customer and their tickets")
    show.add_argument("address")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=show_customer)
    load = customers.add_parser(
        "import", parents=[common], help="create or update customers from a CSV file"
    )
    load.add_argument("file", help="CSV with columns email,name,organisation,language,tags")
    load.set_defaults(func=import_customers)


def customer_dict(customer: Customer, config: Config) -> dict[str, Any]:
    membership = organisations.match(config.organisations, customer.email, customer.organisation)
    return {
        "email": customer.email,
        "name": customer.name,
        "organisation": membership.name,
        "language": customer.language or None,
        "tags": list(customer.tags),
        "first_seen": iso(customer.first_seen),
        "last_seen": iso(customer.last_seen),
    }


def list_customers(args: argparse.Namespace) -> int:
    view = open_store_view(args)
    rows = [customer_dict(c, view.config) for c in Customer.select().order_by(
        Customer.last_seen.desc(), Customer.id.desc())]  # fmt: skip
    if args.organisation:
        wanted = args.organisation.casefold()
        rows = [r for r in rows if (r["organisation"] or "").casefold() == wanted]
    if args.json:
        print_json(rows)
        return 0
    keys = ("email", "name", "organisation", "language", "last_seen")
    print(table([[str(r[k] or "") for k in keys] for r in rows], list(keys)))
    return 0


def show_customer(args: argparse.Namespace) -> int:
    view = open_store_view(args)
    found = find_customer(args.address)
    if found is None:
        raise UsageError(f"no customer {address_key(args.address)}")
    data = customer_dict(found, view.config)
    prefix = view.config.tickets.prefix
    owned = Ticket.select().where(Ticket.customer == found.email).order_by(Ticket.id.desc())
    data["tickets"] = [ticket_summary(t, prefix) for t in owned]
    if args.json:
        print_json(data)
        return 0
    for key in ("email", "name", "organisation", "language", "tags", "first_seen", "last_seen"):
        value = data[key]
        print(f"{key:<13} {', '.join(value) if isinstance(value, list) else value or ''}")
    print(f"tickets       {len(data['tickets'])}")
    for t in data["tickets"]:
        print(f"  [{t['ref']}] {t['status']:<9} {t['subject']}")
    return 0


def import_customers(args: argparse.Namespace) -> int:
    view = open_store_view(args)
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot read {path}: {reason}") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in ("email",) if c not in (reader.fieldnames or [])]
    unknown = [c for c in reader.fieldnames or [] if c not in COLUMNS]
    if missing or unknown:
        raise UsageError(f"{path}:1: the header must name the columns {','.join(COLUMNS)}"
                         f" (email required); got {','.join(reader.fieldnames or [])}")  # fmt: skip
    counts = {"created": 0, "updated": 0, "unchanged": 0, "bad": 0}
    now = utcnow()
    with database_proxy.atomic():
        for number, fields in enumerate(reader, start=2):
            if number > MAX_ROWS + 1:
                print(f"{path}:{number}: more than {MAX_ROWS} rows; the rest is not read",
                      file=sys.stderr)  # fmt: skip
                counts["bad"] += 1
                break
            row, problem = _row(fields, view.config)
            if row is None:
                print(f"{path}:{reader.line_num}: {problem}", file=sys.stderr)
                counts["bad"] += 1
                continue
            counts[import_customer(row, now)] += 1
    print(", ".join(f"{n} {k}" for k, n in counts.items()))
    return 1 if counts["bad"] else 0


def _row(fields: dict[str, Any], config: Config) -> tuple[ImportRow | None, str]:
    """One CSV row checked: the row, or None and what is wrong with it."""
    values = {k: (fields.get(k) or "").strip() for k in COLUMNS}
    if None in fields or any(len(v) > MAX_FIELD for v in values.values()):
        return None, f"too many columns or a field over {MAX_FIELD} characters"
    email = address_key(values["email"])
    if not is_email(email):
        return None, f'email: not an email address: "{values["email"]}"'
    if not values["name"].isprintable():
        return None, "name: control characters are not allowed"
    language = language_tag(values["language"])
    if language is None:
        return None, f'language: must be a language tag like "de", got "{values["language"]}"'
    organisation = config.organisations.named(values["organisation"])
    if values["organisation"] and organisation is None:
        return None, f'organisation: "{values["organisation"]}" is not in the organisations file'
    tags = tuple(dict.fromkeys(t.strip() for t in TAG_SPLIT.split(values["tags"]) if t.strip()))
    if len(tags) > MAX_TAGS or not all(t.isprintable() and len(t) <= MAX_TAG for t in tags):
        return None, f"tags: at most {MAX_TAGS}, each up to {MAX_TAG} printable characters"
    name = organisation.name if organisation else ""
    return ImportRow(email, values["name"], name, language, tags), ""
