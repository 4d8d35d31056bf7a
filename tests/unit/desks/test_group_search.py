"""A poll group's messages in the search index: indexed together at the group's end (the
mails and the acknowledgements recorded on their tickets), none of a message rolled back,
and the index whole afterwards."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.config import small_config
from support.search_index import whole_index

from mailtix.desks.outcome import Source
from mailtix.runtime.app import App
from mailtix.store.models import Message
from mailtix.store.search_index import matching_tickets
from tests.unit.desks.test_group_receipts import slow_after_writing

NOW = datetime(2026, 12, 7, 9, 0, 0)


def mail(n: int, word: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {n} <c{n}@example.org>"
    msg["To"] = "support@acme.example"
    msg["Subject"] = f"Question {n}"
    msg["Message-ID"] = f"<q{n}.{word}@example.org>"
    msg.set_content(f"My {word} is broken.\n")
    return msg.as_bytes()


@pytest.fixture
def app(tmp_path: Path) -> App:
    return App.open(small_config(tmp_path, templates=True), clock=lambda: NOW)


def test_a_group_is_searchable_once_committed_and_skips_what_rolled_back(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_after_writing(monkeypatch, "Question 1")
    words = ["toaster", "kettle", "blender"]
    batch = [(mail(n, w), Source("support", 7, n + 1)) for n, w in enumerate(words)]
    outcomes = [o for g in app.pipeline.process_batch("support", batch) for o in g]

    assert [o.kind for o in outcomes] == ["ticket", "quarantined", "ticket"]
    toaster, blender = (Message.get(Message.message_id == f"<q{n}.{w}@example.org>").ticket_id
                        for n, w in ((0, "toaster"), (2, "blender")))  # fmt: skip
    assert matching_tickets("toaster", 10) == [toaster]
    assert matching_tickets("blender", 10) == [blender]
    assert matching_tickets("kettle", 10) == []  # rolled back with its group, then alone
    acknowledged = matching_tickets("question", 10)  # each ticket's mail and acknowledgement
    assert sorted(acknowledged) == sorted([toaster, blender])
    assert Message.select().where(Message.kind == "auto").count() == 2
    assert whole_index(app.db.connection()) == Message.select().count() == 4
