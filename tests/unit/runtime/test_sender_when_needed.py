"""``poll --once`` (``poll_cycle``) starts its sender process only when there is mail to send:
never for an empty mailbox with an empty outbox, at once for an outbox that holds due mail,
at the first mail a big poll queues otherwise; what a small poll queued, and mail that fell
due during a poll, is sent in-process after it. Maildir mailbox and outgoing Maildir; the sender
processes here are real ones."""

from __future__ import annotations

import mailbox
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.config import small_config

from mailtix.domain.clock import utcnow
from mailtix.outbound.sender_process import SenderProcess
from mailtix.runtime import app as app_module
from mailtix.runtime.app import App, poll_cycle
from mailtix.store.models import OutboxItem

RAW = b"From: support@acme.example\r\nTo: carol@example.org\r\nSubject: due\r\n\r\nbody\r\n"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    config = small_config(tmp_path, templates=True, routing="")
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "inbox" / sub).mkdir(parents=True, exist_ok=True)
    opened = App.open(config)
    yield opened
    opened.db.close()


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[SenderProcess]:
    """The sender processes started (each really is)."""
    found: list[SenderProcess] = []
    real = SenderProcess.start

    def start(self: SenderProcess) -> SenderProcess:
        found.append(self)
        return real(self)

    monkeypatch.setattr(SenderProcess, "start", start)
    return found


def sent(tmp_path: Path) -> list[str]:
    folder = tmp_path / "outgoing"
    if not folder.exists():
        return []
    return sorted(str(m["Subject"]) for m in mailbox.Maildir(folder, create=False))


def due_row() -> OutboxItem:
    now = utcnow()
    return OutboxItem.create(
        kind="acknowledgement", envelope_from="support@acme.example",
        recipients=["carol@example.org"], recipient_key="carol@example.org",
        message_id="<due-1@acme.example>", rfc822=RAW, next_attempt_at=now, created_at=now,
    )  # fmt: skip


def test_an_empty_mailbox_and_outbox_start_no_sender(
    app: App, started: list[SenderProcess], tmp_path: Path
) -> None:
    result = poll_cycle(app)
    assert started == [] and result.sent == {} and result.send_error is None
    assert app.pipeline.mailer.sent_by is None


def test_an_outbox_holding_due_mail_starts_the_sender_at_once(
    app: App, started: list[SenderProcess], tmp_path: Path
) -> None:
    due_row()
    result = poll_cycle(app)
    assert len(started) == 1 and result.sent == {"sent": 1}
    assert sent(tmp_path) == ["due"]


def write_in(tmp_path: Path) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"] = "Carol <carol@example.org>", "support@acme.example"
    msg["Subject"], msg["Message-ID"] = "Printer on fire", "<p1@example.org>"
    msg.set_content("It burns.\n")
    (tmp_path / "inbox" / "new" / "1.eml").write_bytes(bytes(msg))


def test_a_small_poll_sends_what_it_queued_itself_after_the_poll(
    app: App, started: list[SenderProcess], tmp_path: Path
) -> None:
    write_in(tmp_path)
    result = poll_cycle(app)
    assert started == [] and result.sent == {"sent": 1} and len(sent(tmp_path)) == 1


def test_the_first_mail_a_big_poll_queues_starts_the_sender_and_is_claimed_by_it(
    app: App, started: list[SenderProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "IN_PROCESS_UP_TO", 0)  # one new mail is a big poll here
    write_in(tmp_path)
    claimed: list[str] = []
    real_row = app.pipeline.mailer._outbox_row

    def row(*args: object, **kwargs: object) -> OutboxItem:
        item = real_row(*args, **kwargs)  # type: ignore[arg-type]
        claimed.append(item.claimed_by)
        return item

    monkeypatch.setattr(app.pipeline.mailer, "_outbox_row", row)
    result = poll_cycle(app)
    assert len(started) == 1 and result.sent == {"sent": 1}
    assert claimed == [started[0].worker]  # queued already claimed by the child
    assert len(sent(tmp_path)) == 1


def test_mail_due_after_a_poll_that_queued_nothing_is_sent_in_process(
    app: App, started: list[SenderProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    due_row()
    answers = iter([False])  # nothing due when the poll starts; due by its end
    real = app_module.anything_to_send
    monkeypatch.setattr(app_module, "anything_to_send", lambda now: next(answers, real(now)))
    result = poll_cycle(app)
    assert started == [] and result.sent == {"sent": 1}
    assert sent(tmp_path) == ["due"]


def test_a_sender_that_cannot_start_costs_no_mail(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: SenderProcess) -> SenderProcess:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(SenderProcess, "start", refuse)
    monkeypatch.setattr(app_module, "IN_PROCESS_UP_TO", 0)
    write_in(tmp_path)
    result = poll_cycle(app)
    assert result.polls[0].outcomes == {"ticket": 1}  # not quarantined for the sender's sake
    assert result.sent == {"sent": 1} and len(sent(tmp_path)) == 1  # sent after the poll


def test_the_pipeline_is_built_once_and_takes_who_sends_set_before(app: App) -> None:
    """App builds its pipeline on first use (an empty poll needs none): who sends what it
    queues may be set before; threads asking at once get one pipeline."""
    assert app._pipeline is None
    app.sent_by = lambda: "host:1"
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(app.pipeline)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(pipeline) for pipeline in seen}) == 1
    sent_by = app.pipeline.mailer.sent_by
    assert sent_by is not None and sent_by() == "host:1"
    app.sent_by = None  # once built, passed on at once
    assert app.pipeline.mailer.sent_by is None
