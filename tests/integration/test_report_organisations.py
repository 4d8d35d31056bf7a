"""``mailtix report`` by organisation on a generated store of 10,000 tickets
(tests/bench/gen_tickets.py): every format has the table, and its figures add up to the
overall ones and agree with the store. Prints the time it took (never asserted)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from support.config import small_config

REPO = Path(__file__).resolve().parents[2]
TICKETS = 10_000


def test_report_by_organisation_on_10000_tickets(tmp_path: Path) -> None:
    store = tmp_path / "big.db"
    subprocess.run(
        [sys.executable, str(REPO / "tests" / "bench" / "gen_tickets.py"), "--tickets",
         str(TICKETS), "--db", str(store), "--days", "90"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    config = small_config(
        tmp_path, address="support@example.org", store=f'url = "sqlite:///{store}"'
    )
    period = ["--since", "2000-01-01", "--until", "2100-01-01"]

    def report(fmt: str) -> str:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "mailtix", "--config", str(config), "report", *period,
             "--format", fmt],
            check=True, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        print(f"\nreport --format {fmt} over {TICKETS} tickets: {time.monotonic() - started:.2f} s")
        return done.stdout

    document = json.loads(report("json"))
    rows = {r["organisation"]: r for r in document["by_organisation"]}
    assert set(rows) == {"BigCorp", "Acme", None}
    assert sum(r["created"] for r in rows.values()) == document["overall"]["created"] == TICKETS
    assert sum(r["backlog"] for r in rows.values()) == document["overall"]["backlog"]
    with sqlite3.connect(store) as db:
        wanted = dict(db.execute("SELECT organisation, COUNT(*) FROM ticket GROUP BY 1"))
        backlog = dict(db.execute(
            "SELECT organisation, COUNT(*) FROM ticket WHERE status IN ('new', 'open', 'pending') "
            "GROUP BY 1"
        ))  # fmt: skip
    assert {name: r["created"] for name, r in rows.items()} == wanted
    assert {name: r["backlog"] for name, r in rows.items()} == backlog
    bigcorp = rows["BigCorp"]
    assert bigcorp["first_response"]["count"] > 0 and bigcorp["resolution"]["count"] > 0
    assert bigcorp["first_response"]["median_hours"] is not None

    sections = [
        r for r in csv.DictReader(io.StringIO(report("csv"))) if r["section"] == "organisation"
    ]
    assert {r["name"]: int(r["created"]) for r in sections} == {
        "BigCorp": wanted["BigCorp"], "Acme": wanted["Acme"], "(none)": wanted[None],
    }  # fmt: skip
    table = report("table")
    assert "ORGANISATION" in table and "BigCorp" in table and "(none)" in table
    assert "By organisation" in report("html")
