"""The store's fast paths: rows saved with cached SQL, the per-message lookups in plain SQL,
relaxed commits with a durable point, and the in-process writer lock."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from peewee import Database

from mailtix.store import lookups
from mailtix.store.db import SQLITE_PRAGMAS, open_store, write_if_free
from mailtix.store.durability import durable_point, relaxed, relaxed_transaction
from mailtix.store.models import (
    MailboxState,
    Message,
    OutboxItem,
    Receipt,
    Setting,
    Suppression,
    Ticket,
    database_proxy,
)
from mailtix.store.tickets import visible_thread_ids

NOW = datetime(2026, 11, 23, 10, 0, 0, 123456)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    store = open_store(f"sqlite:///{tmp_path / 'mailtix.db'}")
    yield store
    store.close()


def ticket(subject: str = "Printer broken", **extra: object) -> Ticket:
    return Ticket.create(
        subject=subject, department="general", customer="carol@example.org",
        mailbox="support", created_at=NOW, updated_at=NOW, **extra,
    )  # fmt: skip


def test_a_created_row_reads_back_exactly_as_peewee_would_store_it(db: Database) -> None:
    t = ticket(tags=["vip", "ünïcode"], priority="high")
    assert isinstance(t.id, int) and t.id > 0
    again = Ticket.get_by_id(t.id)
    assert (again.subject, again.status, again.priority) == ("Printer broken", "new", "high")
    assert again.tags == ["vip", "ünïcode"] and again.created_at == NOW
    assert again.assignee is None and again.closed_at is None  # defaults and NULLs
    message = Message.create(
        ticket=t, direction="in", kind="customer", to_addrs=["support@example.com"],
        rfc822=b"\x00\xffraw bytes", created_at=NOW,
    )  # fmt: skip
    stored = Message.get_by_id(message.id)
    assert stored.ticket_id == t.id and bytes(stored.rfc822) == b"\x00\xffraw bytes"
    assert stored.to_addrs == ["support@example.com"] and stored.html is None
    # the same row written by peewee's own INSERT reads back the same
    plain = Ticket.insert(
        subject="Printer broken", department="general", customer="carol@example.org",
        mailbox="support", created_at=NOW, updated_at=NOW, tags=["vip", "ünïcode"],
        priority="high",
    ).execute()  # fmt: skip
    theirs = Ticket.get_by_id(plain).__data__
    ours = Ticket.get_by_id(t.id).__data__
    assert {k: v for k, v in theirs.items() if k != "id"} == {
        k: v for k, v in ours.items() if k != "id"
    }


def test_save_updates_the_row_and_an_explicit_id_is_kept(db: Database) -> None:
    t = ticket()
    t.status, t.assignee, t.tags = "open", "bob@example.com", ["a"]
    assert t.save() == 1
    again = Ticket.get_by_id(t.id)
    assert (again.status, again.assignee, again.tags) == ("open", "bob@example.com", ["a"])
    forced = Ticket(
        id=500, subject="x", department="general", customer="c@example.org", mailbox="support",
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    forced.save(force_insert=True)
    assert Ticket.get_by_id(500).subject == "x"
    assert ticket("next").id == 501


def receipt(uid: int | None, sha: str, outcome: str = "ticket", uidvalidity: int = 7) -> Receipt:
    return Receipt.create(
        mailbox="support", uidvalidity=uidvalidity, uid=uid, sha256=sha, outcome=outcome,
        created_at=NOW,
    )  # fmt: skip


def test_receipt_lookups_by_uid_and_by_bytes(db: Database) -> None:
    first = receipt(1, "aa", "quarantined")
    second = receipt(2, "aa")
    assert lookups.receipt_for_uid("support", 7, 2) == lookups.Seen(second.id, 7, 2, "ticket", None)
    assert lookups.receipt_for_uid("support", 8, 2) is None  # another UIDVALIDITY
    assert lookups.receipt_for_uid("other", 7, 2) is None
    assert lookups.receipt_for_bytes("support", "aa", skip_quarantined=False).id == first.id  # type: ignore[union-attr]
    assert lookups.receipt_for_bytes("support", "aa", skip_quarantined=True).id == second.id  # type: ignore[union-attr]
    assert lookups.receipt_for_bytes("support", "bb", skip_quarantined=False) is None


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        (lookups.RECEIPT_BY_UID, "(mailbox=? AND uidvalidity=? AND uid=?)"),
        (lookups.RECEIPT_BY_BYTES, "(mailbox=? AND sha256=?)"),
    ],
)
def test_receipt_lookups_search_an_index_on_every_column(
    db: Database, sql: str, index: str
) -> None:
    """Not only on the mailbox: that walked every receipt the mailbox ever had, per message."""
    params = ["support", 7, 1] if "uid = ?" in sql else ["support", "aa"]
    plan = " ".join(str(row[-1]) for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))
    assert "SEARCH" in plan and index in plan, plan


def test_attempt_counter_counts_up_and_returns_the_last_error(db: Database) -> None:
    assert lookups.count_attempt("support", "aa", NOW) == (1, "")
    from mailtix.store.attempts import record_failure

    record_failure("support", "aa", "boom", NOW)
    assert lookups.count_attempt("support", "aa", NOW) == (2, "boom")
    assert lookups.count_attempt("other", "aa", NOW) == (1, "")


def test_copy_holder_suppression_and_rate_count(db: Database) -> None:
    t = ticket()
    Message.create(
        ticket=t, direction="in", kind="customer", from_addr="carol@example.org",
        subject="Hi", message_id="<m1@example.org>", created_at=NOW,
    )  # fmt: skip
    assert lookups.copy_holder("<m1@example.org>", "carol@example.org", "Hi") == t.id
    assert lookups.copy_holder("<m1@example.org>", "mallory@example.org", "Hi") is None
    since = datetime(2026, 11, 23, 9)
    assert not lookups.is_suppressed("carol@example.org", since)
    Suppression.create(address="carol@example.org", created_at=since)
    assert not lookups.is_suppressed("carol@example.org", since)  # expired: strictly after
    assert lookups.is_suppressed("carol@example.org", since - timedelta(seconds=1))
    for automatic in (True, True, False):
        OutboxItem.create(
            ticket=t, kind="acknowledgement", automatic=automatic, envelope_from="s@x",
            recipients=["carol@example.org"], recipient_key="carol@example.org",
            message_id="<o@x>", rfc822=b"x", next_attempt_at=NOW, created_at=NOW,
        )  # fmt: skip
    assert lookups.automatic_mails_since("carol@example.org", datetime(2026, 11, 23, 9)) == 2
    assert lookups.automatic_mails_since("carol@example.org", NOW) == 0  # strictly after


def test_visible_thread_ids_are_what_the_customer_saw_oldest_first(db: Database) -> None:
    t, other = ticket(), ticket("Other")
    for kind, mid in [
        ("customer", "<c1@x>"), ("auto", "<a1@x>"), ("note", "<n1@x>"), ("agent", "<g1@x>"),
        ("customer", None), ("customer", "<c2@x>"),
    ]:  # fmt: skip
        Message.create(ticket=t, direction="in", kind=kind, message_id=mid, created_at=NOW)
    Message.create(
        ticket=other, direction="in", kind="customer", message_id="<o@x>", created_at=NOW
    )
    expected = ["<c1@x>", "<a1@x>", "<g1@x>", "<c2@x>"]  # no note, no missing id, no other
    assert visible_thread_ids(t) == expected
    peewee = (
        Message.select(Message.message_id)
        .where(
            (Message.ticket == t)
            & Message.message_id.is_null(False)
            & Message.kind.in_(["customer", "agent", "auto"])
        )
        .order_by(Message.id)
    )
    assert [m.message_id for m in peewee] == expected  # what the composed query said


def synchronous(db: Database) -> int:
    return int(db.execute_sql("PRAGMA synchronous").fetchone()[0])


def test_relaxed_commits_nest_and_the_safe_setting_comes_back(db: Database) -> None:
    assert synchronous(db) == 2  # FULL
    with relaxed():
        assert synchronous(db) == 1  # NORMAL
        with relaxed_transaction():
            assert synchronous(db) == 1
        assert synchronous(db) == 1  # the inner one does not switch back early
    assert synchronous(db) == 2


def test_durable_point_writes_and_refuses_to_run_relaxed(db: Database) -> None:
    MailboxState.create(mailbox="support", uidvalidity=7, updated_at=NOW)
    durable_point("support")
    assert MailboxState.get(MailboxState.mailbox == "support").updated_at > NOW
    with relaxed(), pytest.raises(RuntimeError, match="not be durable"):
        durable_point("support")


def test_writers_in_two_threads_queue_instead_of_failing(db: Database) -> None:
    """Each thread has its own connection; the second waits on the process's writer lock (not
    on SQLite's sleeping busy handler), also after the first rolled back."""
    errors: list[BaseException] = []
    inside = threading.Event()
    release = threading.Event()

    def slow_writer() -> None:
        try:
            with database_proxy.atomic():
                ticket("slow")
                inside.set()
                release.wait(5)
                raise KeyError("rolled back")
        except KeyError:
            pass
        except BaseException as exc:
            errors.append(exc)
        finally:
            database_proxy.close()

    def second_writer() -> None:
        try:
            with database_proxy.atomic():
                ticket("second")
        except BaseException as exc:
            errors.append(exc)
        finally:
            database_proxy.close()

    first = threading.Thread(target=slow_writer)
    first.start()
    assert inside.wait(5)
    second = threading.Thread(target=second_writer)
    second.start()
    second.join(0.3)
    assert second.is_alive() and db._writer.locked()  # type: ignore[attr-defined]
    release.set()
    first.join(5)
    second.join(5)
    assert not errors and not second.is_alive()
    assert not db._writer.locked()  # type: ignore[attr-defined]  # rollback and commit released
    assert [t.subject for t in Ticket.select()] == ["second"]


def test_durable_point_writes_even_for_a_mailbox_without_state(db: Database) -> None:
    durable_point("fresh")
    assert MailboxState.get(MailboxState.mailbox == "fresh").last_uid == 0


def test_participants_are_added_once(db: Database) -> None:
    from mailtix.store.tickets import add_participant

    t = ticket()
    assert add_participant(t, "dave@example.org", "Dave", "cc", NOW)
    assert not add_participant(t, "dave@example.org", "Dave", "cc", NOW)
    assert lookups.is_participant(t.id, "dave@example.org")
    assert lookups.is_participant(t.id, "carol@example.org") is False  # created without one


def test_a_tagged_tickets_participants_in_one_statement_unless_merged(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailtix.store.tickets import StoreLookup, add_participant

    lookup = StoreLookup()
    bare, kept, gone = ticket(), ticket(), ticket()
    for email in ("dave@example.org", "erin@example.org"):
        add_participant(kept, email, "", "cc", NOW)
    add_participant(gone, "old@example.org", "", "cc", NOW)
    gone.merged_into = kept.id
    gone.save()
    statements: list[str] = []
    original = Database.execute_sql

    def counted(self: Database, sql: str, *args: object, **kw: object) -> object:
        statements.append(sql)
        return original(self, sql, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Database, "execute_sql", counted)
    assert lookup.ticket_participants(kept.id) == {"dave@example.org", "erin@example.org"}
    assert len(statements) == 1
    read = lookup.ticket(kept.id)  # read with its participants: not again
    assert read is not None and len(statements) == 1
    assert read.__data__ == Ticket.get_by_id(kept.id).__data__ and not read.is_dirty()
    assert StoreLookup().ticket(kept.id) is not read  # another mail's lookup reads it anew
    assert lookup.audience(kept.id) == (kept.customer, "dave@example.org", "erin@example.org")
    assert lookup.ticket_participants(bare.id) == frozenset()  # created without one
    assert lookup.ticket_participants(gone.id) == {"dave@example.org", "erin@example.org"}
    assert lookup.ticket_participants(gone.id + 100) is None
    assert lookup.audience(bare.id) == (bare.customer,)
    assert lookup.audience(gone.id) is None  # merged: its people moved, looked up when needed


def test_write_if_free_does_the_work_at_once_or_not_at_all(db: Database, tmp_path: Path) -> None:
    """For writes that can wait (sent marks): never queued behind another writer, whether it
    is another process (a second connection) or another thread of this one."""

    def work() -> None:
        with relaxed_transaction():
            Setting.create(key=f"k{Setting.select().count()}", value="v")

    other = sqlite3.connect(str(tmp_path / "mailtix.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing
    started = time.monotonic()
    assert write_if_free(work) is False
    assert time.monotonic() - started < 1.0  # not the 15 s busy timeout
    other.execute("COMMIT")
    other.close()

    held, release = threading.Event(), threading.Event()

    def writer() -> None:  # another thread of this process in a transaction
        with database_proxy.atomic():
            held.set()
            release.wait(5)
        database_proxy.close()

    thread = threading.Thread(target=writer)
    thread.start()
    held.wait(5)
    assert write_if_free(work) is False
    release.set()
    thread.join()

    assert Setting.select().count() == 0
    assert write_if_free(work) is True and Setting.select().count() == 1
    busy = db.execute_sql("PRAGMA busy_timeout").fetchone()[0]
    assert busy == SQLITE_PRAGMAS["busy_timeout"]  # the wait is back for everything else


def test_a_ticket_by_id_is_the_ticket_peewee_reads(db: Database) -> None:
    from mailtix.store.statements import select_by_id

    t = ticket(tags=["vip", "ünïcode"], priority="high", spam=True, closed_at=NOW)
    found = select_by_id(Ticket, t.id)
    assert found is not None and found.__data__ == Ticket.get_by_id(t.id).__data__
    assert isinstance(found.created_at, datetime) and found.spam is True
    assert not found.dirty_fields
    found.status = "open"
    assert found.save() == 1 and Ticket.get_by_id(t.id).status == "open"
    assert select_by_id(Ticket, t.id + 1) is None


def test_every_budget_count_reads_one_index_within_the_hour(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not every row the recipient (an agent: every notification) was ever sent."""
    plans: list[str] = []
    real = lookups.execute

    def planned(sql: str, params: list[object]) -> object:
        rows = db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        plans.append(" ".join(str(row[-1]) for row in rows))
        return real(sql, params)

    monkeypatch.setattr(lookups, "execute", planned)
    t, since = ticket(), NOW - timedelta(hours=1)
    lookups.automatic_mails_since("a@x", since)
    lookups.automatic_mails_from_since("s@x", since)
    lookups.ticket_mails_since(t.id, "a@x", since, "unverified")
    assert lookups.mails_of_kind_since("notification", "a@x", since) == (0, None)
    assert len(plans) == 4
    for plan in plans:
        assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), plan
        assert "created_at>?" in plan, plan
    assert "COVERING INDEX" in plans[0] and "COVERING INDEX" in plans[1], plans


def test_mails_of_kind_counts_the_hour_and_names_the_newest(db: Database) -> None:
    t = ticket()
    for minutes, kind in ((-90, "notification"), (-30, "notification"), (-10, "acknowledgement")):
        OutboxItem.create(
            ticket=t, kind=kind, automatic=False, envelope_from="s@x", recipients=["a@x"],
            recipient_key="a@x", message_id="<o@x>", rfc822=b"x", next_attempt_at=NOW,
            created_at=NOW + timedelta(minutes=minutes),
        )  # fmt: skip
    since = NOW - timedelta(hours=1)
    assert lookups.mails_of_kind_since("notification", "a@x", since) == (
        1, NOW - timedelta(minutes=30),
    )  # fmt: skip
    assert lookups.mails_of_kind_since("notification", "b@x", since) == (0, None)
    assert lookups.mails_of_kind_since("unverified", "a@x", since) == (0, None)
