"""Make a realistic store of many tickets fast, for measuring reports.

    python tests/bench/gen_tickets.py --tickets 100000 --db /tmp/big.db [--days 180] [--seed 1]

Tickets arrive mostly in working hours over the last ``--days`` days, across four departments
and eight agents, from 5,000 customers (a fifth of them BigCorp's, a tenth Acme's); most get an
agent answer within hours and are resolved within days, some are reopened, some answered a
survey, a few breached an SLA. Rows go in with ``insert_many`` in
large transactions (about 45 s per 100,000 tickets on SQLite with its FULL sync).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from peewee import chunked  # noqa: E402

from mailtix.domain.clock import utcnow  # noqa: E402
from mailtix.store import open_store  # noqa: E402
from mailtix.store.backfill import typed_columns  # noqa: E402
from mailtix.store.models import Event, Message, Ticket, database_proxy  # noqa: E402

DEPARTMENTS = {"general": 0.4, "billing": 0.25, "tech": 0.25, "sales": 0.1}
AGENTS = {
    "general": ["alice@example.com", "bob@example.com"],
    "billing": ["carol@example.com", "dave@example.com"],
    "tech": ["erin@example.com", "frank@example.com"],
    "sales": ["grace@example.com", "heidi@example.com"],
}
PRIORITIES = {"low": 0.15, "normal": 0.6, "high": 0.2, "urgent": 0.05}
ORGANISATIONS = (("BigCorp", 1000), ("Acme", 1500))  # customers below each bound; then none
BATCH = 5000


def pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def arrival(rng: random.Random, now: datetime, days: int) -> datetime:
    """A time in the last ``days`` days, mostly on weekdays between 8 and 18 UTC."""
    while True:
        moment = now - timedelta(seconds=rng.uniform(0, days * 86400))
        working = moment.weekday() < 5 and 8 <= moment.hour < 18
        if working or rng.random() < 0.15:
            return moment.replace(microsecond=0)


def one_ticket(rng: random.Random, number: int, now: datetime, days: int) -> dict[str, Any]:
    """A ticket's row plus its messages and events (ticket id ``number``)."""
    department = pick(rng, DEPARTMENTS)
    created = arrival(rng, now, days)
    agent = rng.choice(AGENTS[department])
    ticket: dict[str, Any] = {
        "id": number, "subject": f"Question {number}", "status": "new",
        "priority": pick(rng, PRIORITIES), "department": department, "assignee": None,
        "customer": f"customer{number % 5000}@example.org", "mailbox": "support",
        "organisation": next((o for o, below in ORGANISATIONS if number % 5000 < below), None),
        "created_at": created, "updated_at": created, "first_response_at": None,
    }  # fmt: skip
    messages = [_message(number, "in", "customer", created)]
    events = [_event(number, "created", "from customer", created)]
    responded = created + timedelta(hours=rng.expovariate(1 / 5))
    if responded < now and rng.random() < 0.93:
        ticket.update(assignee=agent, status="open", updated_at=responded,
                      first_response_at=responded)  # fmt: skip
        messages.append(_message(number, "out", "agent", responded))
        events.append(_event(number, "status", "new -> open: first answer", responded))
        resolved = responded + timedelta(hours=rng.expovariate(1 / 40))
        if resolved < now and rng.random() < 0.9:
            ticket.update(status="resolved", updated_at=resolved)
            events.append(_event(number, "status", "open -> resolved: done", resolved))
            if rng.random() < 0.3:
                ticket["satisfaction"] = rng.choices([1, 2, 3, 4, 5], [1, 1, 2, 5, 8])[0]
            if rng.random() < 0.05:
                reopened = resolved + timedelta(hours=rng.uniform(1, 48))
                if reopened < now:
                    ticket.update(status="open", updated_at=reopened)
                    events.append(_event(number, "status", "resolved -> open: reply", reopened))
                    events.append(_event(number, "reopened", "reply", reopened))
    if rng.random() < 0.02:
        events.append(
            _event(number, "sla", "first response breached", created + timedelta(hours=8))
        )
    return {"ticket": ticket, "messages": messages, "events": events}


def _message(ticket: int, direction: str, kind: str, at: datetime) -> dict[str, Any]:
    return {"ticket": ticket, "direction": direction, "kind": kind, "text": "...", "created_at": at}


def _event(ticket: int, type_: str, detail: str, at: datetime) -> dict[str, Any]:
    """An event with its typed columns, as mailtix writes them."""
    row = {"ticket": ticket, "type": type_, "detail": detail, "at": at}
    return {**row, **dict.fromkeys(("field", "old_value", "new_value", "reason")),
            **(typed_columns(type_, detail) or {})}  # fmt: skip


def generate(url: str, tickets: int, days: int, seed: int, now: datetime) -> None:
    """Fill the store at ``url`` with ``tickets`` generated tickets."""
    open_store(url)
    rng = random.Random(seed)
    start = (Ticket.select(Ticket.id).order_by(Ticket.id.desc()).scalar() or 0) + 1
    for first in range(start, start + tickets, BATCH):
        rows = [
            one_ticket(rng, n, now, days) for n in range(first, min(first + BATCH, start + tickets))
        ]
        with database_proxy.atomic():
            for model, items in (
                (Ticket, [r["ticket"] for r in rows]),
                (Message, [m for r in rows for m in r["messages"]]),
                (Event, [e for r in rows for e in r["events"]]),
            ):
                for chunk in chunked(items, 1000):  # stay under SQLite's variable limit
                    model.insert_many(chunk).execute()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--db", required=True, help="SQLite file, or a postgresql:// URL")
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    url = args.db if "://" in args.db else f"sqlite:///{Path(args.db).absolute()}"
    began = time.perf_counter()
    generate(url, args.tickets, args.days, args.seed, utcnow().replace(microsecond=0))
    print(f"{args.tickets} tickets in {time.perf_counter() - began:.1f} s -> {args.db}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
