"""`mailtix privacy erase` on PostgreSQL (the server on 127.0.0.1:5432, see conftest): a
customer with three tickets, a participant on a fourth, a quarantined mail, the processed
copies in a local Maildir; afterwards no row of any table names her (every table dumped as
text, bytea decoded), and the other customers' tickets are intact."""

from __future__ import annotations

import json
import mailbox
import re
from collections.abc import Iterator
from email.utils import make_msgid
from pathlib import Path

import psycopg2
import pytest
from support.config import small_config
from support.live import customer_mail, mailtix, tickets

from mailtix.store import open_store
from mailtix.store.models import ALL_MODELS, SchemaVersion

pytestmark = pytest.mark.postgres

SUPPORT = "support@acme.example"
CAROL, DAVE, EVE = "carol@example.org", "dave@example.net", "eve@example.com"


def drop_all(url: str) -> None:
    db = open_store(url, upgrade=False)
    try:
        db.drop_tables([*ALL_MODELS, SchemaVersion], safe=True, cascade=True)
    finally:
        db.close()


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    drop_all(postgres_url)
    yield postgres_url
    drop_all(postgres_url)


@pytest.fixture
def config(tmp_path: Path, pg_url: str) -> Path:
    return small_config(tmp_path, address=SUPPORT, store=f'url = "{pg_url}"', templates=True)


def dump(url: str) -> str:
    """Every row of every table as text, bytea decoded, lower-case."""
    rows: list[str] = []
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
        for (table,) in cursor.fetchall():
            cursor.execute(f'SELECT t::text FROM "{table}" t')
            rows += [row for (row,) in cursor.fetchall()]
    connection.close()

    def decoded(match: re.Match[str]) -> str:
        return bytes.fromhex(match[1]).decode("utf-8", "replace")

    return re.sub(r"\\\\x([0-9a-f]+)", decoded, "\n".join(rows)).lower()


def test_erase_on_postgres(config: Path, pg_url: str, tmp_path: Path) -> None:
    inbox = mailbox.Maildir(tmp_path / "inbox", factory=None, create=True)
    for n in range(3):
        inbox.add(customer_mail(f"Carol <{CAROL}>", SUPPORT, f"Carol {n}", "Hi.\n").as_bytes())
    dave = customer_mail(f"Dave <{DAVE}>", SUPPORT, "Dave's", "Carol is in copy.\n")
    dave["Cc"] = CAROL
    inbox.add(dave.as_bytes())
    inbox.add(customer_mail(f"Eve <{EVE}>", SUPPORT, "Eve's", "Mine.\n").as_bytes())
    filler = "".join(f"\r\n {'x' * 70}" for _ in range(16000))
    inbox.add(
        f"From: {CAROL}\r\nTo: {SUPPORT}\r\nSubject: big\r\nMessage-ID: {make_msgid()}\r\n"
        f"X-Filler: a{filler}\r\n\r\nbody\r\n".encode()
    )
    mailtix(config, "poll", "--once")
    assert len(tickets(config)) == 5
    assert CAROL in dump(pg_url)

    out = mailtix(config, "privacy", "erase", CAROL).stdout
    print(out)
    assert "tickets: 3 changed" in out and "quarantine: 1 changed" in out
    assert "mail copies in support/Processed: 4 changed" in out
    whole = dump(pg_url)
    assert CAROL not in whole and CAROL.encode().hex() not in whole
    assert DAVE in whole and EVE in whole
    processed = mailbox.Maildir(tmp_path / "inbox", factory=None).get_folder("Processed")
    assert [CAROL.encode() in m.as_bytes().lower() for m in processed] == [False]
    shown = {t["subject"]: t for t in tickets(config)}
    eve = json.loads(mailtix(config, "tickets", "show", shown["Eve's"]["ref"], "--json").stdout)
    assert eve["customer"] == EVE and eve["messages"][0]["text"] == "Mine.\n"
    again = mailtix(config, "privacy", "erase", CAROL).stdout
    assert set(re.findall(r": (\d+) changed", again)) == {"0"}
