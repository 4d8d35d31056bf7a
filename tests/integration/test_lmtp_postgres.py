"""The LMTP server on a PostgreSQL store: deliveries over several sessions at once are each
one ticket, and a retried delivery is a duplicate."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from support.lmtp_client import LmtpClient

from mailtix.runtime.app import App
from mailtix.runtime.lmtp import LmtpServer
from mailtix.store import open_store
from mailtix.store.db import is_postgres
from mailtix.store.models import ALL_MODELS, Receipt, SchemaVersion, Ticket

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]


def drop_all(url: str) -> None:
    db = open_store(url, upgrade=False)
    try:
        db.drop_tables([*ALL_MODELS, SchemaVersion], safe=True, cascade=True)
    finally:
        db.close()


@pytest.fixture
def app(postgres_url: str, tmp_path: Path) -> Iterator[App]:
    drop_all(postgres_url)
    path = tmp_path / "mailtix.toml"
    path.write_text(
        f'[store]\nurl = "{postgres_url}"\n\n[smtp]\nmaildir = "out"\n\n'
        f'[templates]\ndir = "{REPO / "templates"}"\n\n'
        '[lmtp]\nlisten = "127.0.0.1:2424"\n\n'
        '[[mailbox]]\nname = "support"\naddress = "support@acme.example"\n'
    )
    found = App.open(path)
    assert is_postgres(found.db)
    yield found
    found.db.close()
    drop_all(postgres_url)


def mail(subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "carol@customer.example"
    msg["To"] = "support@acme.example"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="customer.example")
    msg.set_content("Hello.\n")
    return msg.as_bytes()


def test_concurrent_lmtp_deliveries_on_postgresql(app: App) -> None:
    server = LmtpServer(app.config, app.pipeline, ("127.0.0.1", 0)).start()
    answers: list[str] = []
    first = mail("first")

    def session(i: int) -> None:
        with LmtpClient("127.0.0.1", server.port) as lmtp:
            for n in range(5):
                raw = first if (i, n) == (0, 0) else mail(f"s{i}-{n}")
                _, data = lmtp.deliver("carol@customer.example", ["support@acme.example"], raw,
                                       lhlo=n == 0)  # fmt: skip
                answers.extend(data)

    try:
        threads = [threading.Thread(target=session, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        with LmtpClient("127.0.0.1", server.port) as lmtp:  # Postfix retrying the first one
            _, again = lmtp.deliver("carol@customer.example", ["support@acme.example"], first)
    finally:
        server.stop(drain=10)
    assert len(answers) == 20 and all(a.startswith("250 2.0.0 ticket ") for a in answers)
    assert again[0].startswith("250 2.0.0 duplicate ")
    assert Ticket.select().count() == 20
    assert Receipt.select().count() == 21
