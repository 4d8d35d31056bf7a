"""Full-text search over many tickets (``#find``, ``mailtix tickets search``): fill a store with
generated tickets whose subjects and messages are made of words with a natural (Zipf) spread,
then time the searches an agent makes: a rare word, a common one, two words, a prefix.

    python tests/bench/bench_search.py [--tickets 100000] [--db /tmp/search.db | postgresql://…]
                                       [--reuse]

On PostgreSQL it also times a rare word without the index (``to_tsvector`` at query time),
which is what the index saves. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from peewee import PostgresqlDatabase, chunked  # noqa: E402

from mailtix.store import open_store  # noqa: E402
from mailtix.store.models import Message, Ticket, database_proxy  # noqa: E402
from mailtix.store.search_index import PG_VECTOR, matching_tickets  # noqa: E402

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ber", "dan", "gel", "hom", "pri",
             "ton", "ser", "ver", "lin", "mar", "cor", "fel"]  # fmt: skip
REAL = ["printer", "invoice", "password", "login", "refund", "delivery", "scanner", "account"]
BATCH = 5000
START = datetime(2026, 1, 1)


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words = {"".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) for _ in range(size * 2)}
    return REAL + sorted(words)[:size]


def generate(url: str, tickets: int, seed: int) -> float:
    """Fill ``url`` with ``tickets`` tickets of two messages each; seconds it took."""
    open_store(url)
    rng = random.Random(seed)
    words = vocabulary(rng, 20_000)
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(words))))
    began = time.perf_counter()
    for first in range(1, tickets + 1, BATCH):
        numbers = range(first, min(first + BATCH, tickets + 1))
        ticket_rows: list[dict[str, Any]] = []
        message_rows: list[dict[str, Any]] = []
        for n in numbers:
            at = START + timedelta(minutes=n)
            subject = " ".join(rng.choices(words, cum_weights=cumulative, k=4)).capitalize()
            ticket_rows.append({"id": n, "subject": subject, "department": "general",
                                "customer": f"c{n % 5000}@example.org", "mailbox": "support",
                                "created_at": at, "updated_at": at})  # fmt: skip
            for kind in ("customer", "agent"):
                text = " ".join(rng.choices(words, cum_weights=cumulative, k=rng.randint(20, 80)))
                row = {"ticket": n, "direction": "in", "kind": kind, "subject": subject}
                message_rows.append({**row, "text": text, "created_at": at})
        with database_proxy.atomic():
            for model, rows in ((Ticket, ticket_rows), (Message, message_rows)):
                for chunk in chunked(rows, 1000):
                    model.insert_many(chunk).execute()
    return time.perf_counter() - began


def timed(search: Callable[[], list[int]], repeat: int = 5) -> tuple[float, int]:
    """Median milliseconds of ``search`` and how many tickets it found."""
    times, found = [], 0
    for _ in range(repeat):
        began = time.perf_counter()
        found = len(search())
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), found


def pick_queries(words: list[str]) -> dict[str, str]:
    return {
        "rare word": words[-1],
        "common word": words[8],
        "real word": "printer",
        "two words": f"{words[8]} {words[40]}",
        "prefix": words[100][:4] + "*",
        "real prefix": "print*",
        "no hit": "zzzzqqq",
    }


def report(queries: dict[str, str], label: str) -> None:
    for name, query in queries.items():
        ms, found = timed(lambda q=query: matching_tickets(q, 20))  # type: ignore[misc]
        print(f"  {label:<22} {name:<12} {query!r:<30} {ms:8.1f} ms  ({found} tickets shown)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--db", default="/tmp/mailtix-bench-search.db")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reuse", action="store_true", help="search the store --db already has")
    args = parser.parse_args()
    url = args.db if "://" in args.db else f"sqlite:///{Path(args.db).absolute()}"
    if args.reuse:
        open_store(url)
        print(f"{Ticket.select().count()} tickets, {Message.select().count()} messages (reused)")
    else:
        if "://" not in args.db:
            Path(args.db).unlink(missing_ok=True)
        seconds = generate(url, args.tickets, args.seed)
        count = Message.select().count()
        print(f"{args.tickets} tickets, {count} messages written and indexed in {seconds:.1f} s")
    db = database_proxy.obj
    queries = pick_queries(vocabulary(random.Random(args.seed), 20_000))
    report(queries, "indexed")
    if isinstance(db, PostgresqlDatabase):
        sql = (
            f"SELECT id FROM message WHERE {PG_VECTOR} @@ to_tsquery('simple', %s) "
            "ORDER BY id DESC LIMIT 500"
        )
        ms, found = timed(lambda: db.execute_sql(sql, (queries["rare word"],)).fetchall(), 1)
        print(f"  {'no index (to_tsvector)':<22} {'rare word':<12} {ms:39.1f} ms  ({found} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
