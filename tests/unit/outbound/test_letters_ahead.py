"""Letters made ahead by a large poll's child (``outbound.letters_ahead``): the same mail as
made in the poll, every row filled before the commit, a rolled-back message's letters never in
another's row, a failing template on its own message, a dead child costing only time."""

from __future__ import annotations

import email
import email.policy
import logging
import pickle
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from peewee import fn

from mailtix.desks.outcome import Source
from mailtix.inbound.parse_ahead import ParseAhead
from mailtix.outbound import letters_ahead
from mailtix.outbound.letters_ahead import Deferred, LetterFailed
from mailtix.runtime.app import App
from mailtix.runtime.poller import poll_mailbox
from mailtix.store.db import open_store
from mailtix.store.models import Event, Message, OutboxItem, Ticket, database_proxy
from tests.support.config import TEMPLATES, small_config
from tests.unit.desks.test_pipeline import (
    DEPARTMENTS,
    EXTRA,
    ROUTING,
    SUPPORT,
    Clock,
    mail,
    pipeline_config,
)
from tests.unit.runtime.test_poller import MemorySource


def mails(n: int) -> list[bytes]:
    """New tickets from a few customers, some of them answering an earlier ticket by its tag."""
    raws, tickets = [], 0
    for i in range(n):
        if i % 5 == 4:  # the customer of the ticket before writes again, by its tag
            sender, subject = (
                f"Customer {(i - 1) % 7} <c{(i - 1) % 7}@example.org>",
                f"[SUP-{tickets}] more",
            )
        else:
            sender, subject = f"Customer {i % 7} <c{i % 7}@example.org>", f"Question {i}: prïnter"
            tickets += 1
        raws.append(mail(sender=sender, subject=subject, body=f"Line {i}\n" + "word " * i))
    return raws


ALICE = "alice@acme.example"
NOTICE = re.compile(r"mailtix notice (\d+)\.[0-9a-f]+")  # signed with the store's own secret


def letters() -> list[tuple[str, list[str], str, str, str]]:
    """Each queued mail as what its reader sees: kind, recipients, subject, text, HTML (an
    agent's notice, signed with a secret of its store, as one placeholder)."""
    seen = []
    for row in OutboxItem.select().order_by(OutboxItem.id):
        parsed = email.message_from_bytes(bytes(row.rfc822), policy=email.policy.default)
        text = parsed.get_body(("plain",))
        html = parsed.get_body(("html",))
        assert text is not None and html is not None, f"outbox row {row.id} has no letter"
        plain, rich = (NOTICE.sub(r"notice \1", part.get_content()) for part in (text, html))
        seen.append((row.kind, list(row.recipients), str(parsed["Subject"]), plain, rich))
    return seen


def records() -> list[tuple[str, str, str]]:
    rows = Message.select().where(Message.kind == "auto").order_by(Message.id)
    return [(m.subject, m.text, m.html) for m in rows]


def poll(app: App, raws: list[bytes]) -> dict[str, int]:
    result = poll_mailbox(app.mailbox("support"), MemorySource(raws, slow=0), lambda: app.pipeline)  # type: ignore[arg-type]
    return dict(result.outcomes)


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every letter goes to the child as it is queued (none is left for the poll to make at
    the group's end), the poll waits for each (a loaded machine makes none here by timing),
    and the letters made in the poll itself are counted."""
    monkeypatch.setattr(letters_ahead, "PER_REQUEST", 1)
    monkeypatch.setattr(letters_ahead, "WAIT", 30.0)
    monkeypatch.setattr("mailtix.runtime.poller.PARSE_AHEAD_FROM", 3)
    made_here: list[int] = []
    real_make = letters_ahead.make

    def counted(*args: object) -> object:
        made_here.append(1)
        return real_make(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(letters_ahead, "make", counted)
    monkeypatch.setattr("mailtix.outbound.mailer.make", counted)
    return made_here


def test_a_letter_made_ahead_is_the_letter_made_in_the_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patient: list[int]
) -> None:
    raws = mails(45)
    for side in ("ahead", "here"):
        (tmp_path / side).mkdir()
    ahead_app = App.open(pipeline_config(tmp_path / "ahead"), clock=Clock())
    outcomes = poll(ahead_app, raws)
    made_ahead, recorded_ahead = letters(), records()
    assert patient == [], "letters were made in the poll although the child answered"
    assert outcomes == {"ticket": 36, "followup": 9}

    monkeypatch.setattr("mailtix.runtime.poller.PARSE_AHEAD_FROM", 10**6)  # no child
    here_app = App.open(pipeline_config(tmp_path / "here"), clock=Clock())
    assert poll(here_app, raws) == outcomes
    assert len(made_ahead) > 45  # acknowledgements and notifications to agents
    assert letters() == made_ahead
    assert records() == recorded_ahead
    assert all(subject and text for subject, text, _ in recorded_ahead)


def test_the_letters_not_sent_yet_at_a_groups_end_are_made_in_the_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patient: list[int]
) -> None:
    """At a group's end, the letters that would make a request short of PER_REQUEST are made
    in the poll while the child makes those sent before them: none of them waits for the
    child, and none is made twice in the poll."""
    monkeypatch.setattr(letters_ahead, "PER_REQUEST", 8)
    sent: list[int] = []
    real_submit = ParseAhead.submit_job

    def counted(self: ParseAhead, frame: bytes) -> object:
        sent.append(len(pickle.loads(frame)[1]))
        return real_submit(self, frame)

    monkeypatch.setattr(ParseAhead, "submit_job", counted)
    app = App.open(pipeline_config(tmp_path), clock=Clock())
    assert poll(app, mails(20)) == {"ticket": 16, "followup": 4}  # one group
    queued = OutboxItem.select().count()
    assert queued % 8, f"{queued} letters: a multiple of 8 leaves nothing for the poll"
    assert set(sent) == {8} and sum(sent) == queued - queued % 8
    assert len(patient) == queued % 8
    assert all(kind for kind, *_ in letters())  # every row filled


def test_a_rolled_back_message_leaves_no_letter_for_the_row_that_takes_its_place(
    tmp_path: Path,
) -> None:
    """SQLite gives a rolled-back row's id to the next row: the letter queued for the first
    must not be written into the second's record, nor its outbox row saved (to another
    customer)."""
    app = App.open(pipeline_config(tmp_path), clock=Clock())
    assert poll(app, [mail(sender="ann@example.org"), mail(sender="ben@example.org")]) == {
        "ticket": 2
    }
    ann, ben = Ticket.select().order_by(Ticket.id)
    mailer, box = app.pipeline.mailer, app.mailbox("support")
    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    ahead = ParseAhead.start(letters_ahead.child(app.pipeline.renderer))
    assert ahead is not None
    try:
        for restore in (True, False):
            with database_proxy.atomic() as outer:
                outbox_before = OutboxItem.select().count()
                deferred = mailer.deferred = Deferred(ahead)
                mark = deferred.mark()
                try:
                    with database_proxy.atomic():
                        first = mailer.acknowledge(ann, box, None, now, new=True)
                        first_record = Message.select(fn.MAX(Message.id)).scalar()
                        raise RuntimeError("the message failed after queueing its letter")
                except RuntimeError:
                    if restore:
                        deferred.restore(mark)
                second = mailer.acknowledge(ben, box, None, now, new=True)
                second_record = Message.select(fn.MAX(Message.id)).scalar()
                assert first is not None and second is not None
                assert first.id is None and second.id is None  # saved by finish, with bytes
                assert first_record == second_record
                if restore:
                    deferred.finish(app.pipeline.renderer)
                    (row,) = OutboxItem.select().where(OutboxItem.id > outbox_before)
                    assert row.recipients == ["ben@example.org"]
                    assert b"To: ben@example.org" in bytes(row.rfc822)
                    assert b"ann@example.org" not in bytes(row.rfc822)
                    record = Message.get_by_id(second_record)
                    assert record.message_id == second.message_id and record.text
                else:  # a letter not forgotten finds no record of its Message-ID
                    with pytest.raises(LetterFailed, match="3 of 4 letter rows filled"):
                        deferred.finish(app.pipeline.renderer)
                mailer.deferred = None
                outer.rollback()
    finally:
        ahead.close()


def failing_templates(directory: Path) -> Path:
    """The shipped templates, but the acknowledgement fails for a subject with "boom"."""
    directory.mkdir(parents=True)
    text = (TEMPLATES / "acknowledgement.txt.j2").read_text()
    boom = '{% if "boom" in ticket.subject %}{{ 1 // 0 }}{% endif %}'
    (directory / "acknowledgement.txt.j2").write_text(boom + text)
    return directory


def test_a_failing_template_fails_only_its_own_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, patient: list[int]
) -> None:
    templates = failing_templates(tmp_path / "tpl")
    config = small_config(
        tmp_path, address=SUPPORT, departments=DEPARTMENTS, routing=ROUTING,
        mailbox='display_name = "ACME Support"\ndepartment = "general"',
        extra=EXTRA + f'\n[templates]\ndir = "{templates}"\n',
    )  # fmt: skip
    app = App.open(config, clock=Clock())
    raws = [mail(sender=f"c{i}@example.org", subject=f"Question {i}") for i in range(25)]
    raws[12] = mail(sender="boom@example.org", subject="it went boom")
    with caplog.at_level(logging.WARNING):
        outcomes = poll(app, raws)
    assert outcomes == {"ticket": 24, "deferred": 1}
    assert "one at a time" in caplog.text
    assert "ZeroDivisionError" in caplog.text
    acknowledged = {
        row.recipients[0] for row in OutboxItem.select().where(OutboxItem.kind == "acknowledgement")
    }
    assert len(acknowledged) == 24 and "boom@example.org" not in acknowledged
    letters()  # every row has its letter


def test_a_dead_child_leaves_the_letters_to_the_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mailtix.runtime.poller.PARSE_AHEAD_FROM", 3)
    real_submit = ParseAhead.submit_job

    def kill_then_submit(self: ParseAhead, frame: bytes) -> object:
        self._proc.kill()
        return real_submit(self, frame)

    monkeypatch.setattr(ParseAhead, "submit_job", kill_then_submit)
    app = App.open(pipeline_config(tmp_path), clock=Clock())
    assert poll(app, mails(30)) == {"ticket": 24, "followup": 6}
    assert len(letters()) > 30  # each with its letter, made in the poll
    assert all(subject and text for subject, text, _ in records())


def test_an_answer_that_is_not_a_letter_is_not_used() -> None:
    """Nor one that is another letter's (an answer out of place must not fill this row)."""
    from concurrent.futures import Future

    from mailtix.outbound.letters_ahead import _Pending

    silent = silent_child()
    deferred = Deferred(silent)

    def answered(answer: object, message_id: str = "<a@x>") -> object:
        future: Future[list[object]] = Future()
        future.set_result(answer)  # type: ignore[arg-type]
        row = OutboxItem(message_id=message_id)
        letter = _Pending(row, None, b"", answer=future, place=0)
        return deferred._answer(letter, 0.0)

    letter = b"From: s@x\r\nMessage-ID: <a@x>\r\n\r\nbody\r\n"
    try:
        bad = (["x"], [("s", "t", "h", "not bytes")], [("s", "t", "h")], [b"x"], [])
        for answer in bad:
            assert answered(answer) is None
        assert answered([("s", "t", "h", letter)]) == ("s", "t", "h", letter)
        assert answered([("s", "t", "h", letter)], "<b@x>") is None
        assert answered([("s", "t", "h", b"Message-ID: <b@x>\r\n\r\n<a@x>")]) is None
    finally:
        silent.close()


def test_a_letter_queued_by_another_thread_is_made_by_that_thread(tmp_path: Path) -> None:
    """The daemon's polls, timed jobs and LMTP deliveries share one pipeline in threads of
    their own: a letter queued elsewhere while a group is open must not wait for that group
    (which would never fill a row it cannot see, and the mail would go out empty)."""
    app = App.open(pipeline_config(tmp_path), clock=Clock())
    assert poll(app, [mail(sender="ann@example.org")]) == {"ticket": 1}
    (ticket,) = Ticket.select()
    mailer, box = app.pipeline.mailer, app.mailbox("support")
    silent = silent_child()
    mailer.deferred = Deferred(silent)  # this thread's group: never answered
    queued: list[OutboxItem | None] = []
    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    other = threading.Thread(
        target=lambda: queued.append(mailer.acknowledge(ticket, box, None, now))
    )
    other.start()
    other.join()
    mailer.deferred = None
    silent.close()
    (item,) = queued
    assert item is not None and b"To: ann@example.org" in bytes(
        OutboxItem.get_by_id(item.id).rfc822
    )


def silent_child() -> ParseAhead:
    """A child that reads every request and never answers (stuck, but alive)."""
    never = [sys.executable, "-c", "import sys; sys.stdin.buffer.read()"]
    return ParseAhead(subprocess.Popen(never, stdin=subprocess.PIPE, stdout=subprocess.PIPE))


def test_a_stuck_child_is_waited_for_once_a_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group waits at most WAIT for its letters; once a wait ran out, the poll's later
    groups make theirs at once instead of waiting again for the same child."""
    monkeypatch.setattr(letters_ahead, "WAIT", 1.0)
    monkeypatch.setattr("mailtix.runtime.poller.PARSE_AHEAD_FROM", 3)
    monkeypatch.setattr(ParseAhead, "start", classmethod(lambda cls, child=(): silent_child()))
    waited: list[float] = []
    real_answer = ParseAhead.answer

    def timed(self: ParseAhead, future: object, timeout: float) -> object:
        started = time.monotonic()
        try:
            return real_answer(self, future, timeout)  # type: ignore[arg-type]
        finally:
            waited.append(time.monotonic() - started)

    monkeypatch.setattr(ParseAhead, "answer", timed)
    app = App.open(pipeline_config(tmp_path), clock=Clock())
    assert poll(app, mails(60)) == {"ticket": 48, "followup": 12}  # two groups (50 and 10)
    assert len(letters()) > 60  # every letter made in the poll
    assert 1.0 <= sum(waited) < 1.5, f"waited {sum(waited):.2f} s for a child that never answers"


def test_a_flood_from_one_sender_gets_no_more_mail_in_a_large_poll(
    tmp_path: Path, patient: list[int]
) -> None:
    """An autoresponder or a forger writing 60 times: the budgets are decided before a letter
    goes to the child, so a large poll sends that address what a small one would (at most
    ``auto_reply_limit_per_hour``), and never more."""
    app = App.open(pipeline_config(tmp_path), clock=Clock())
    raws = [mail(sender="loop@example.org", subject=f"Question {n}") for n in range(60)]
    assert poll(app, raws) == {"ticket": 60}
    to_loop = [row for row in OutboxItem.select() if row.recipients == ["loop@example.org"]]
    assert len(to_loop) == app.config.tickets.auto_reply_limit_per_hour == 5
    assert all(bytes(row.rfc822) for row in to_loop)
    assert patient == []  # they were made by the child: the large poll's path


def test_a_flood_of_forgeries_in_a_large_poll_makes_a_few_warnings(
    tmp_path: Path, patient: list[int]
) -> None:
    """Mail claiming to be from an agent, 30 times in one poll: the warnings to her are counted
    from the outbox as it stands, so a large poll makes the five an hour a small one would."""
    app = App.open(pipeline_config(tmp_path), clock=Clock())
    assert app.pipeline.process(mail(), Source("support", 1, 1)).kind == "ticket"
    forged = [
        mail(f"Alice <{ALICE}>", f"Re: [SUP-1] done #{n}", "#status closed\n") for n in range(30)
    ]
    assert poll(app, forged) == {"followup": 30}  # each kept as an internal note
    warnings = OutboxItem.select().where(OutboxItem.kind == "unverified")
    assert [row.recipients for row in warnings] == [[ALICE]] * 5
    assert all(b"claiming to be from you" in bytes(row.rfc822) for row in warnings)
    held = Event.select().where(Event.type == "suppressed", Event.detail.endswith("budget"))
    assert held.count() == 25
    assert Ticket.get_by_id(1).status != "closed"


@pytest.mark.postgres
def test_a_large_polls_letters_on_postgresql(
    tmp_path: Path, postgres_url: str, patient: list[int]
) -> None:
    """The outbox rows a group saves at its end, in a few statements, are the rows a small
    poll saves one at a time, on PostgreSQL too."""
    from mailtix.store.models import ALL_MODELS, SchemaVersion

    def drop() -> None:
        db = open_store(postgres_url, upgrade=False)
        db.drop_tables([*ALL_MODELS, SchemaVersion], safe=True, cascade=True)
        db.close()

    drop()
    raws = mails(45)
    config = small_config(
        tmp_path, address=SUPPORT, templates=True, departments=DEPARTMENTS, routing=ROUTING,
        mailbox='display_name = "ACME Support"\ndepartment = "general"', extra=EXTRA,
        store=f'url = "{postgres_url}"',
    )  # fmt: skip
    app = App.open(config, clock=Clock())
    try:
        assert poll(app, raws) == {"ticket": 36, "followup": 9}
        made_ahead, recorded_ahead = letters(), records()
        assert patient == []  # the child made them
        assert len(made_ahead) > 45
        assert all(subject and text for subject, text, _ in recorded_ahead)
        rows = list(OutboxItem.select().order_by(OutboxItem.id))
        assert all(row.ticket_id is not None and row.status == "pending" for row in rows)
    finally:
        app.db.close()
        drop()


def test_an_agent_gets_no_more_notifications_than_her_budget_in_a_large_poll(
    tmp_path: Path, patient: list[int]
) -> None:
    """A flood of new tickets, each notifying the department's agent: the notifications of a
    group, whose rows are saved only at its end, still count against her hourly budget."""
    config = pipeline_config(tmp_path)
    config.write_text(config.read_text() + "\n[agents]\nnotifications_per_hour = 7\n")
    app = App.open(config, clock=Clock())
    raws = [mail(sender=f"c{n}@example.org", subject=f"Question {n}") for n in range(40)]
    assert poll(app, raws) == {"ticket": 40}
    to_alice = OutboxItem.select().where(OutboxItem.recipient_key == ALICE)
    assert [row.kind for row in to_alice] == ["notification"] * 7
    held = Event.select().where(Event.detail.endswith("notification budget"))
    assert held.count() == 33
    assert patient == []  # the large poll's path: made by the child
