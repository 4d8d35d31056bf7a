"""Claiming outbox rows on SQLite: due rows in order, one UPDATE as the only write (the poller
commits beside the sender), rows another worker took meanwhile skipped for the next ones."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from peewee import Database

from mailtix.outbound import outbox
from mailtix.outbound.sent_marks import journal_stem
from mailtix.store import claims
from mailtix.store.db import open_store
from mailtix.store.durability import relaxed_transaction
from mailtix.store.models import OutboxItem
from tests.unit.outbound.test_sent_marks import NOW, dead_pid, row


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    store = open_store(f"sqlite:///{tmp_path / 'mailtix.db'}")
    yield store
    store.close()


def states() -> list[tuple[int, str, str]]:
    return [(r.id, r.status, r.claimed_by) for r in OutboxItem.select().order_by(OutboxItem.id)]


def test_due_rows_are_claimed_oldest_first_up_to_the_limit(db: Database) -> None:
    items = [row(status="pending", n=n) for n in range(5)]
    later = row(status="pending", n=9)
    later.next_attempt_at = NOW + timedelta(minutes=5)  # waiting for its retry
    later.save()
    claimed = outbox.claim(NOW, limit=3)
    assert [c.id for c in claimed] == [i.id for i in items[:3]]
    assert [(state, by) for _, state, by in states()[:3]] == [("sending", outbox.WORKER)] * 3
    first = claimed[0]  # what sending takes, as the row holds it
    assert (first.envelope_from, first.recipients) == ("support@example.com", ["c0@example.org"])
    assert first.rfc822.startswith(b"From: ")
    assert [c.id for c in outbox.claim(NOW, limit=3)] == [i.id for i in items[3:]]
    assert outbox.claim(NOW, limit=3) == []


def test_the_write_is_one_update_and_nothing_else(db: Database) -> None:
    for n in range(3):
        row(status="pending", n=n)
    seen: list[str] = []
    db.connection().set_trace_callback(seen.append)
    try:
        outbox.claim(NOW)
    finally:
        db.connection().set_trace_callback(None)
    begin = next(i for i, sql in enumerate(seen) if sql.startswith("BEGIN"))
    end = next(i for i, sql in enumerate(seen) if sql == "COMMIT")
    inside = seen[begin + 1 : end]
    assert len(inside) == 1 and inside[0].replace('"', "").startswith("UPDATE outbox"), inside


def test_rows_another_worker_took_meanwhile_are_skipped_for_the_next_ones(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [row(status="pending", n=n) for n in range(4)]
    races = iter([items[:2]])  # before our first UPDATE, another worker takes the first two

    @contextmanager
    def racing() -> Iterator[None]:
        for taken in races:
            ids = [i.id for i in taken]
            OutboxItem.update(status="sending", claimed_by="otherhost:7", claimed_at=NOW).where(
                OutboxItem.id.in_(ids)
            ).execute()
        with relaxed_transaction():
            yield

    monkeypatch.setattr(claims, "relaxed_transaction", racing)  # the claim's transaction
    claimed = outbox.claim(NOW, limit=2)
    assert [c.id for c in claimed] == [i.id for i in items[2:]]
    assert states() == [
        (items[0].id, "sending", "otherhost:7"),
        (items[1].id, "sending", "otherhost:7"),
        (items[2].id, "sending", outbox.WORKER),
        (items[3].id, "sending", outbox.WORKER),
    ]


def test_a_claim_past_its_lease_is_taken_over(db: Database) -> None:
    stale = row(status="sending", n=1)  # claimed by "host:1", another machine
    stale.claimed_at = NOW - outbox.CLAIM_LEASE - timedelta(seconds=1)
    stale.save()
    fresh = row(status="sending", n=2)
    fresh.claimed_at = NOW
    fresh.save()
    assert [c.id for c in outbox.claim(NOW)] == [stale.id]


def test_rows_of_a_dead_local_worker_are_taken_over_at_once_after_its_journal(
    db: Database,
) -> None:
    dead = f"{outbox.HOST}:{dead_pid()}"
    sent, unsent = row(status="sending", n=1), row(status="sending", n=2)
    for item in (sent, unsent):  # claimed just now by a drain of this host that was killed
        item.claimed_by, item.claimed_at = dead, NOW
        item.save()
    journal = Path(f"{journal_stem()}.{dead.rpartition(':')[2]}.1")
    journal.write_text(f"{sent.id} {NOW.isoformat()}\n")  # it had sent one of them

    assert outbox.take_over_dead() == [dead]
    assert not journal.exists()
    assert [c.id for c in outbox.claim(NOW, dead=[dead])] == [unsent.id]  # not the sent one
    assert OutboxItem.get_by_id(sent.id).status == "sent"


def given_row(n: int, worker: str = outbox.WORKER) -> OutboxItem:
    item = row(status="sending", n=n)  # as Mailer.queue makes it with sent_by set
    item.claimed_by, item.claimed_at = worker, NOW
    item.save()
    return item


def test_rows_queued_for_this_worker_are_found_with_a_read_and_handed_out_once(
    db: Database,
) -> None:
    mine = [given_row(n) for n in range(3)]
    given_row(9, worker="otherhost:1")  # another worker's: not ours to send
    state = outbox.SenderState.open()
    seen: list[str] = []
    db.connection().set_trace_callback(seen.append)
    try:
        first = state.given(limit=2)
        state.handed.update(r.id for r in first)  # as the drain's feed does
        second = state.given(limit=2)
        state.handed.update(r.id for r in second)
        third = state.given(limit=2)
    finally:
        db.connection().set_trace_callback(None)
    assert [r.id for r in first] == [mine[0].id, mine[1].id]
    assert [r.id for r in second] == [mine[2].id]
    assert third == []
    assert not [sql for sql in seen if sql.startswith(("BEGIN", "UPDATE", "INSERT"))]
    assert {r.status for r in OutboxItem.select()} == {"sending"}  # nothing written

    OutboxItem.update(status="sent").where(OutboxItem.id == mine[0].id).execute()  # flushed
    assert state.given() == [] and state.handed == {mine[1].id, mine[2].id}
    later = given_row(10)
    assert [r.id for r in state.given()] == [later.id]


def test_what_a_drain_sent_is_not_sent_again_while_its_marks_wait_for_the_store(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store is busy (the poller commits): marks stay in the journal, the rows stay
    "sending" in the store, and the next drain of the same sender leaves them alone."""
    from mailtix.config.model import SmtpConfig

    smtp = SmtpConfig(maildir=tmp_path / "sent")
    mine, pending = given_row(1), row(status="pending", n=2)
    monkeypatch.setattr("mailtix.outbound.sent_marks.write_if_free", lambda work: False)
    state = outbox.SenderState.open()
    assert outbox.drain(smtp, lambda: NOW, state=state)["sent"] == 2
    assert {r.status for r in OutboxItem.select()} == {"sending"}  # not flushed yet
    assert outbox.drain(smtp, lambda: NOW, state=state)["sent"] == 0
    assert len(list(mailbox.Maildir(tmp_path / "sent", create=False))) == 2
    monkeypatch.undo()
    state.close()  # for good: waits for the store
    assert {(r.id, r.status) for r in OutboxItem.select()} == {
        (mine.id, "sent"),
        (pending.id, "sent"),
    }


def test_a_drain_sends_the_rows_queued_for_it_and_writes_only_its_marks(
    db: Database, tmp_path: Path
) -> None:
    from mailtix.config.model import SmtpConfig

    mine = [given_row(n) for n in range(3)]
    pending = row(status="pending", n=5)  # queued with no sender beside: claimed as usual
    state = outbox.SenderState.open()
    counts = outbox.drain(SmtpConfig(maildir=tmp_path / "sent"), lambda: NOW, state=state)
    assert counts["sent"] == 4
    assert {r.status for r in OutboxItem.select()} == {"sent"}  # marks flushed (store free)
    assert state.handed == {*(i.id for i in mine), pending.id}
    assert state.given() == [] and state.handed == set()  # all flushed: nothing to remember
    assert OutboxItem.get_by_id(pending.id).claimed_by == ""  # cleared with the mark
    state.close()


def test_a_live_sender_renews_its_claims_so_a_long_backlog_stays_its_own(db: Database) -> None:
    """Mail queued for a sender may wait behind a long backlog; past the lease anyone could
    take it, so the sender renews its claims (at most every RENEW_CLAIMS) while it lives."""
    old = NOW - outbox.CLAIM_LEASE - timedelta(minutes=1)
    waiting = given_row(1)
    waiting.claimed_at = old
    waiting.save()
    state = outbox.SenderState.open()
    state.renew(NOW)
    assert OutboxItem.get_by_id(waiting.id).claimed_at == NOW
    elsewhere = NOW + timedelta(seconds=30)
    assert outbox.claim(elsewhere, dead=[]) == []  # another worker: not claimable any more

    later = given_row(2)
    later.claimed_at = old
    later.save()
    state.renew(NOW + outbox.RENEW_CLAIMS / 2)  # renewed a moment ago: not yet again
    assert OutboxItem.get_by_id(later.id).claimed_at == old
    state.renew(NOW + outbox.RENEW_CLAIMS)
    assert OutboxItem.get_by_id(later.id).claimed_at == NOW + outbox.RENEW_CLAIMS
    state.close()
