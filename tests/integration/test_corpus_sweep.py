"""Every real mail of tests/data/corpus (RT, Zammad, OTOBO, FreeScout, bounces, torture tests…) in
one Dovecot mailbox, one `mailtix poll --once`: every message is accounted for (ticket, follow-up,
ignored, duplicate or quarantined), nothing is left behind, nothing fails with an internal error,
each ticket gets at most one acknowledgement, and a second poll finds nothing to do."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support.live import REPO, mailtix, unique, write_config

pytestmark = pytest.mark.integration

CORPUS = REPO / "tests" / "data" / "corpus"
NOT_MAIL = (".yml", ".json")  # expectation files next to the mails (see tests/data/SOURCES.md)


def corpus_mails() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and not p.name.endswith(NOT_MAIL))


def summary_counts(stdout: str, mailbox: str) -> tuple[Counter[str], int]:
    """Outcome counts and the number moved, from `support: 3 ticket, 1 ignored; 4 moved`."""
    line = next(x for x in stdout.splitlines() if x.startswith(f"{mailbox}: "))
    outcomes, moved = line[len(mailbox) + 2 :].rsplit("; ", 1)
    counts = Counter({kind: int(n) for n, kind in re.findall(r"(\d+) (\w+)", outcomes)})
    return counts, int(moved.split()[0])


def test_whole_corpus_in_one_poll(mailstack: Any, tmp_path: Path) -> None:
    support = unique("support")
    agent = f"{unique('alice')}@example.test"
    # Acknowledgements go to the corpus senders, all outside the test domains: Postfix would
    # refuse each at RCPT time, and tarpit the client (smtpd_error_sleep_time) after ten of
    # them. Outgoing mail goes into a Maildir instead, so every acknowledgement can be counted.
    config = write_config(
        tmp_path,
        mailstack,
        [{"name": "support", "user": support}],
        departments=f'[[department]]\nname = "general"\nagents = ["{agent}"]\n',
        smtp_maildir="outgoing",
    )
    files = corpus_mails()
    assert len(files) > 250, "the corpus went missing"

    started = time.monotonic()
    with mailstack.imap(support) as client:
        for path in files:
            client.append("INBOX", path.read_bytes())
    appended = len(mailstack.folder_uids(support))
    assert appended == len(files)
    appending = time.monotonic() - started

    started = time.monotonic()
    proc = mailtix(config, "poll", "--once", check=False)
    polling = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    counts, moved = summary_counts(proc.stdout, "support")
    print(f"\n{appended} mails appended in {appending:.1f} s, polled in {polling:.1f} s")
    print(f"outcomes: {dict(sorted(counts.items()))}; {proc.stdout.splitlines()[-1]}")

    assert sum(counts.values()) == moved == appended
    assert set(counts) <= {"ticket", "followup", "ignored", "duplicate", "quarantined"}
    with sqlite3.connect(tmp_path / "mailtix.db") as db:
        ledger = Counter(dict(db.execute("SELECT outcome, count(*) FROM receipt GROUP BY 1")))
    assert ledger == counts
    assert len(tickets_all(config)) == counts["ticket"]

    quarantined = json.loads(mailtix(config, "quarantine", "list", "--json").stdout)
    reasons = Counter(q["reason"].split(":")[0] for q in quarantined)
    print(f"quarantine reasons: {dict(reasons)}")
    for item in quarantined:
        print(f"  uid {item['uid']}: {item['reason'][:150]}")
    assert len(quarantined) == counts["quarantined"]
    assert not [q for q in quarantined if q["reason"].startswith("internal error")]

    outbox = json.loads(mailtix(config, "outbox", "list", "--all", "--json").stdout)
    written = [p for p in (tmp_path / "outgoing" / "new").iterdir() if p.is_file()]
    print(f"outbox: {dict(Counter(item['status'] for item in outbox))}")
    assert {item["status"] for item in outbox} <= {"sent"}
    assert len(written) == len(outbox)
    acks = [item["ticket"] for item in outbox if item["kind"] == "acknowledgement"]
    assert len(set(acks)) == len(acks) <= counts["ticket"]  # one per ticket at most
    others = [item for item in outbox if item["kind"] != "acknowledgement"]
    assert all(item["recipients"] == [agent] for item in others), others[:3]

    assert len(mailstack.folder_uids(support, "Quarantine")) == counts["quarantined"]
    assert len(mailstack.folder_uids(support, "Processed")) == appended - counts["quarantined"]
    assert mailstack.folder_uids(support) == []
    again = mailtix(config, "poll", "--once").stdout
    assert again.splitlines() == ["support: nothing new; 0 moved", "outbox: nothing to send"]


def tickets_all(config: Path) -> list[dict[str, Any]]:
    listed = json.loads(mailtix(config, "tickets", "list", "--limit", "100000", "--json").stdout)
    return list(listed)
