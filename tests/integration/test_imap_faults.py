"""IMAP trouble on a real Dovecot: a message expunged by someone else between listing and
fetching, and a connection that drops in the middle of a batch. Nothing is lost, nothing is
processed twice, and the next poll finishes the job. Plus imaplib's protocol trace, which
costs a repr of every message read and is only kept when its logger wants it."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from support.live import customer_mail, tickets, unique, write_config

from mailtix.inbound.imap_source import ImapSource
from mailtix.runtime.app import App
from mailtix.runtime.poller import poll_mailbox

pytestmark = pytest.mark.integration


def fill(stack: Any, support: str, count: int) -> None:
    for i in range(count):
        msg = customer_mail(f"c{i}@customer.test", f"{support}@example.test", f"Question {i}")
        stack.append(support, "INBOX", bytes(msg))


@pytest.fixture
def setup(mailstack: Any, tmp_path: Path) -> tuple[App, Any, str]:
    support = unique("support")
    config = write_config(
        tmp_path, mailstack, [{"name": "support", "user": support}], smtp_maildir="outgoing"
    )
    return App.open(config), mailstack, support


class ExpungingSource(ImapSource):
    """Someone else deletes the first message after we listed it, before we fetch it."""

    stack: Any
    user: str

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        found = super().sizes(uids)
        with self.stack.imap(self.user) as other:
            other.select_folder("INBOX")
            other.delete_messages([uids[0]])
            other.expunge()
        return found


def test_message_expunged_mid_fetch_is_skipped_and_the_rest_processed(
    setup: tuple[App, Any, str],
) -> None:
    app, stack, support = setup
    fill(stack, support, 3)
    mailbox = app.mailbox("support")
    source = ExpungingSource(mailbox)
    source.stack, source.user = stack, support
    with source:
        result = poll_mailbox(mailbox, source, lambda: app.pipeline)
    assert result.outcomes == {"ticket": 2}
    assert stack.folder_uids(support, "INBOX") == []
    assert len(stack.folder_uids(support, "Processed")) == 2
    assert len(tickets(app.config.path)) == 2


class DroppingFetch(ImapSource):
    """The connection dies while a batch is being downloaded."""

    def fetch(self, uids: Sequence[int]) -> Iterator[tuple[int, bytes]]:
        for index, item in enumerate(super().fetch(uids)):
            if index == 1:
                self.imap.shutdown()  # the socket is gone, as after a network failure
                raise ConnectionResetError("connection reset by peer")
            yield item


class DroppingMove(ImapSource):
    """The connection dies when the first batch, already committed, is moved."""

    def move(self, uids: Sequence[int], folder: str) -> None:
        self.imap.shutdown()
        raise ConnectionResetError("connection reset by peer")


@pytest.mark.parametrize(
    ("dropping", "committed"),
    [(DroppingFetch, 0), (DroppingMove, 4)],
    ids=["while-downloading", "while-moving"],
)
def test_connection_dropped_mid_batch_loses_nothing_and_doubles_nothing(
    setup: tuple[App, Any, str], dropping: type[ImapSource], committed: int
) -> None:
    """A batch is downloaded whole before it is handled, so a drop while downloading leaves
    nothing committed; a drop while moving leaves the batch committed but in the inbox. Either
    way the next poll finishes the job: nothing lost, nothing handled twice."""
    app, stack, support = setup
    fill(stack, support, 4)
    mailbox = app.mailbox("support")
    with pytest.raises(ConnectionResetError), dropping(mailbox) as source:
        poll_mailbox(mailbox, source, lambda: app.pipeline)
    assert len(tickets(app.config.path)) == committed
    assert len(stack.folder_uids(support, "INBOX")) == 4  # nothing was moved

    with ImapSource(mailbox) as source:  # the next poll: what was committed is only moved
        result = poll_mailbox(mailbox, source, lambda: app.pipeline)
    assert result.outcomes == ({"ticket": 4 - committed} if committed < 4 else {})
    assert result.moved == 4
    assert len(tickets(app.config.path)) == 4
    assert stack.folder_uids(support, "INBOX") == []
    assert len(stack.folder_uids(support, "Processed")) == 4


def test_imaplib_traces_only_when_its_logger_keeps_them(
    setup: tuple[App, Any, str], caplog: pytest.LogCaptureFixture
) -> None:
    """imapclient turns imaplib's trace on (a repr of every line and message read, then
    dropped by the logger); mailtix leaves it on only when the logger would keep it."""
    app, stack, support = setup
    fill(stack, support, 1)
    mailbox = app.mailbox("support")
    with ImapSource(mailbox) as source:
        assert source.imap._imap.debug == 0
        assert len(list(source.fetch(source.list_keys()))) == 1
    caplog.set_level(logging.DEBUG, logger="imapclient.imaplib")
    with ImapSource(mailbox) as source:
        assert source.imap._imap.debug == 5
        assert len(list(source.fetch(source.list_keys()))) == 1
    assert any("FETCH" in r.getMessage() for r in caplog.records if r.name == "imapclient.imaplib")
