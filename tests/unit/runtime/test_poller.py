"""The poll loop on an in-memory mailbox (no server): bounded batches, each downloaded whole,
handled, then moved only after its commit; a failed move loses nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from mailtix.runtime.app import App
from mailtix.runtime.poller import poll_mailbox
from mailtix.store.models import Receipt, Ticket
from tests.unit.desks.test_pipeline import Clock, mail, pipeline_config


@pytest.fixture
def app(tmp_path: Path) -> App:
    return App.open(pipeline_config(tmp_path), clock=Clock())


class MemorySource:
    """A mailbox in memory that fails the test if two threads use it at once."""

    uidvalidity = 9

    def __init__(self, raws: list[bytes], slow: float = 0.02) -> None:
        self.inbox = dict(enumerate(raws, start=1))
        self.folders: dict[str, list[int]] = {}
        self.calls: list[tuple[str, int, str]] = []  # (what, first key, thread name)
        self.slow = slow
        self._busy = threading.Lock()

    @contextmanager
    def _using(self, what: str, keys: Sequence[int]) -> Iterator[None]:
        if not self._busy.acquire(blocking=False):
            raise AssertionError(f"{what} while another thread uses the source")
        try:
            self.calls.append((what, keys[0], threading.current_thread().name))
            time.sleep(self.slow)  # room for another thread to collide
            yield
        finally:
            self._busy.release()

    def list_keys(self) -> list[int]:
        return sorted(self.inbox)

    def sizes(self, keys: Sequence[int]) -> dict[int, int]:
        return {k: len(self.inbox[k]) for k in keys if k in self.inbox}

    def fetch(self, keys: Sequence[int]) -> Iterator[tuple[int, bytes]]:
        with self._using("fetch", keys):
            found = [(k, self.inbox[k]) for k in keys]
        yield from found

    def move(self, keys: Sequence[int], folder: str) -> None:
        if not keys:
            return
        with self._using("move", keys):
            for key in keys:
                assert Receipt.select().where(Receipt.uid == key).exists(), "moved before commit"
                del self.inbox[key]
                self.folders.setdefault(folder, []).append(key)


def test_batches_are_downloaded_handled_then_moved_after_their_commit(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mailtix.runtime.poller.BATCH_MESSAGES", 2)
    source = MemorySource([mail(subject=f"Question {n}") for n in range(5)], slow=0)
    mailbox = app.mailbox("support")
    result = poll_mailbox(mailbox, source, lambda: app.pipeline)  # type: ignore[arg-type]

    assert result.outcomes == {"ticket": 5} and result.moved == 5
    assert source.inbox == {} and source.folders == {"Processed": [1, 2, 3, 4, 5]}
    assert Ticket.select().count() == 5
    assert [(what, key) for what, key, _ in source.calls] == [
        ("fetch", 1),
        ("fetch", 3),
        ("move", 1),
        ("fetch", 5),
        ("move", 3),
        ("move", 5),
    ]  # fmt: skip  (each batch fetched while the one before is handled)


def test_the_next_batch_is_fetched_in_a_thread_never_beside_a_move(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source is used by one thread at a time (MemorySource fails otherwise), slow enough
    here for a collision to show; every batch after the first comes from the prefetch thread."""
    monkeypatch.setattr("mailtix.runtime.poller.BATCH_MESSAGES", 3)
    source = MemorySource([mail(subject=f"Question {n}") for n in range(14)], slow=0.02)
    result = poll_mailbox(app.mailbox("support"), source, lambda: app.pipeline)  # type: ignore[arg-type]
    assert result.outcomes == {"ticket": 14} and source.inbox == {}
    fetchers = [thread for what, _, thread in source.calls if what == "fetch"]
    assert len(fetchers) == 5 and all(t.startswith("prefetch") for t in fetchers[1:])


def test_a_failed_prefetch_is_raised_after_the_batch_before_is_moved(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mailtix.runtime.poller.BATCH_MESSAGES", 2)
    source = MemorySource([mail(subject=f"Question {n}") for n in range(5)], slow=0)
    real_fetch = source.fetch

    def fetch(keys: Sequence[int]) -> Iterator[tuple[int, bytes]]:
        if keys[0] == 3:
            raise ConnectionResetError("connection reset by peer")
        return real_fetch(keys)

    monkeypatch.setattr(source, "fetch", fetch)
    with pytest.raises(ConnectionResetError):
        poll_mailbox(app.mailbox("support"), source, lambda: app.pipeline)  # type: ignore[arg-type]
    assert source.folders == {"Processed": [1, 2]} and Ticket.select().count() == 2


def test_a_failed_move_is_raised_and_the_next_poll_only_moves(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches are moved by the thread while the next is handled: the first batch's failed
    move is raised before the third batch is handled (the second was fetched already)."""
    monkeypatch.setattr("mailtix.runtime.poller.BATCH_MESSAGES", 2)
    source = MemorySource([mail(subject=f"Question {n}") for n in range(5)], slow=0)
    real_move = source.move

    def broken(keys: Sequence[int], folder: str) -> None:
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(source, "move", broken)
    mailbox = app.mailbox("support")
    with pytest.raises(ConnectionResetError):
        poll_mailbox(mailbox, source, lambda: app.pipeline)  # type: ignore[arg-type]
    assert Ticket.select().count() == 4 and len(source.inbox) == 5  # committed, not moved

    monkeypatch.setattr(source, "move", real_move)
    again = poll_mailbox(mailbox, source, lambda: app.pipeline)  # type: ignore[arg-type]
    assert (dict(again.outcomes), again.moved) == ({"ticket": 1}, 5)
    assert source.inbox == {} and Ticket.select().count() == 5


def test_a_batch_is_moved_by_the_thread_while_the_next_is_handled(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The main thread does not wait for a move: the second batch is handled while the
    first is still being moved (a slow move), every move after its batch's commit."""
    monkeypatch.setattr("mailtix.runtime.poller.BATCH_MESSAGES", 2)
    source = MemorySource([mail(subject=f"Question {n}") for n in range(4)], slow=0)
    real_move = source.move
    handled_meanwhile: list[int] = []

    def slow_move(keys: Sequence[int], folder: str) -> None:
        if keys[0] == 1:
            time.sleep(0.5)
            handled_meanwhile.append(Ticket.select().count())
        real_move(keys, folder)

    monkeypatch.setattr(source, "move", slow_move)
    result = poll_mailbox(app.mailbox("support"), source, lambda: app.pipeline)  # type: ignore[arg-type]
    assert result.moved == 4 and source.inbox == {}
    assert handled_meanwhile == [4]  # the second batch was committed during the first move


def test_a_large_poll_takes_each_parse_from_the_child_when_it_is_back(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From PARSE_AHEAD_FROM new mails a child parses them; the pipeline parses none itself
    when the child's answers are back in time (here: waited for), and the outcomes are the
    ones parsing here gives, an unparseable mail quarantined as ever."""
    from mailtix.desks import intake
    from mailtix.desks import pipeline as pipeline_module
    from mailtix.inbound.parse_ahead import Ahead, ParseAhead, Parsed

    monkeypatch.setattr("mailtix.runtime.poller.PARSE_AHEAD_FROM", 3)
    real_submit = ParseAhead.submit

    def submit_and_wait(self: ParseAhead, raws: Sequence[bytes]) -> list[Ahead]:
        aheads = real_submit(self, raws)
        back: list[Parsed | None] = [None] * len(aheads)
        deadline = time.monotonic() + 30
        while any(r is None for r in back) and time.monotonic() < deadline:
            back = [r if r is not None else take() for r, take in zip(back, aheads, strict=True)]
            time.sleep(0.02)
        return [given(r) for r in back]  # each taken from the child already, once

    def given(parsed: Parsed | None) -> Ahead:
        return lambda: parsed

    here: list[bytes] = []
    real_parse = pipeline_module.parse_message

    def counted(raw: bytes) -> object:
        here.append(raw)
        return real_parse(raw)

    trimmed: list[str] = []
    real_trim = intake.visible_reply

    def trim(text: str) -> object:
        trimmed.append(text)
        return real_trim(text)

    monkeypatch.setattr(ParseAhead, "submit", submit_and_wait)
    monkeypatch.setattr(pipeline_module, "parse_message", counted)
    monkeypatch.setattr(intake, "visible_reply", trim)
    raws = [mail(subject=f"Question {n}") for n in range(45)] + [b"\r\n\r\n"]
    source = MemorySource(raws, slow=0)
    result = poll_mailbox(app.mailbox("support"), source, lambda: app.pipeline)  # type: ignore[arg-type]

    assert dict(result.outcomes) == {"ticket": 45, "quarantined": 1}
    assert here == []  # every parse came from the child
    assert trimmed == []  # and the text its notification shows
    assert Ticket.select().count() == 45 and len(source.folders["Quarantine"]) == 1


def test_a_poll_goes_on_when_its_parse_child_dies(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailtix.inbound.parse_ahead import Ahead, ParseAhead

    monkeypatch.setattr("mailtix.runtime.poller.PARSE_AHEAD_FROM", 3)
    monkeypatch.setattr("mailtix.runtime.poller.BATCH_MESSAGES", 10)
    real_submit = ParseAhead.submit

    def kill_then_submit(self: ParseAhead, raws: Sequence[bytes]) -> list[Ahead]:
        self._proc.kill()
        return real_submit(self, raws)

    monkeypatch.setattr(ParseAhead, "submit", kill_then_submit)
    source = MemorySource([mail(subject=f"Question {n}") for n in range(25)], slow=0)
    result = poll_mailbox(app.mailbox("support"), source, lambda: app.pipeline)  # type: ignore[arg-type]
    assert dict(result.outcomes) == {"ticket": 25} and result.moved == 25
