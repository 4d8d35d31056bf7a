"""``#spam``/``#notspam`` ask the next poll to move the ticket's own customer mail, by plain
Message-IDs only; a Maildir mailbox moves it between its folders (IMAP: test_abuse_live)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from peewee import Database

from mailtix.config.model import MailboxConfig
from mailtix.inbound.maildir_source import MaildirSource
from mailtix.store import folder_moves
from mailtix.store.db import open_store
from mailtix.store.models import FolderMove, Message, Ticket

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    store = open_store(f"sqlite:///{tmp_path / 'mailtix.db'}")
    yield store
    store.close()


def ticket_with(*messages: tuple[str, str, str | None]) -> Ticket:
    """A ticket of mailbox support with (direction, kind, Message-ID) messages, each stored
    with a hash of its bytes (the same Message-ID, the same bytes)."""
    ticket = Ticket.create(subject="Offer", department="general", customer="c@example.org",
                           mailbox="support", created_at=NOW, updated_at=NOW)  # fmt: skip
    for direction, kind, message_id in messages:
        sha = hashlib.sha256((message_id or "").encode()).hexdigest()
        Message.create(ticket=ticket, direction=direction, kind=kind, message_id=message_id,
                       raw_sha256=sha, created_at=NOW)  # fmt: skip
    return ticket


def test_only_the_tickets_own_customer_mail_by_plain_ids(db: Database) -> None:
    ticket = ticket_with(
        ("in", "customer", "<one@example.org>"),
        ("in", "customer", "<one@example.org>"),  # the same mail twice: asked once
        ("in", "customer", None),
        ("in", "customer", '<a" OR ALL@x>'),  # not a plain id: never reaches a SEARCH
        ("in", "customer", "<b\r\nX: y@x>"),
        ("in", "agent", "<agent@example.com>"),
        ("out", "auto", "<ack@example.com>"),
        ("in", "customer", "<two@example.org>"),
    )
    other = ticket_with(("in", "customer", "<other@example.org>"))
    assert folder_moves.ask(ticket, True, NOW) == 2
    assert folder_moves.ask(other, True, NOW) == 1
    assert folder_moves.ask(ticket, False, NOW) == 2  # #notspam replaces what #spam asked
    moves = folder_moves.pending("support", 10)
    assert [(m.message_id, m.to_spam) for m in moves] == [
        ("<other@example.org>", True), ("<one@example.org>", False), ("<two@example.org>", False),
    ]  # fmt: skip
    assert folder_moves.pending("billing", 10) == []
    folder_moves.done(moves[:1])
    assert len(folder_moves.pending("support", 10)) == 2
    Ticket.delete().where(Ticket.id == ticket.id).execute()
    assert FolderMove.select().count() == 0  # an erased ticket leaves no Message-ID behind


def test_maildir_refile_moves_only_the_named_mail(tmp_path: Path) -> None:
    config = MailboxConfig(name="support", address="support@acme.example",
                           maildir=tmp_path / "inbox")  # fmt: skip
    with MaildirSource(config) as source:
        processed = source.box.get_folder("Processed")
        for n in ("spam", "other"):
            processed.add(f"Message-ID: <{n}@example.org>\r\nSubject: {n}\r\n\r\nx\r\n".encode())
        assert source.refile(["<spam@example.org>"], "Processed", "Spam") == 1
        spam = source.box.get_folder("Spam")
        assert [b"Subject: spam" in raw for raw in map(spam.get_bytes, spam.keys())] == [True]
        assert len(processed.keys()) == 1
        assert source.refile(["<spam@example.org>"], "Processed", "Spam") == 0  # done already
        assert source.refile(["<spam@example.org>"], "Spam", "Processed") == 1
        assert len(processed.keys()) == 2 and not spam.keys()
        # a stranger's mail with the same Message-ID: not the bytes stored, so it stays
        processed.add(b"Message-ID: <spam@example.org>\r\nSubject: stranger\r\n\r\ny\r\n")
        stored = [raw for raw in map(processed.get_bytes, processed.keys()) if b"spam\r" in raw]
        sha = hashlib.sha256(stored[0]).hexdigest()
        ours = lambda raw: hashlib.sha256(raw).hexdigest() == sha  # noqa: E731
        assert source.refile(["<spam@example.org>"], "Processed", "Spam", ours) == 1
        assert len(processed.keys()) == 2 and len(spam.keys()) == 1
