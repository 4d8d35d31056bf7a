"""The LMTP server in-process (aiosmtpd on a loopback port) against a throwaway SQLite store
and Maildir mailboxes: replies per recipient, the ledger deduping a retried delivery, the size
limit, unknown recipients, a store that fails, the session cap and draining on stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from peewee import OperationalError
from support.lmtp_client import LmtpClient

from mailtix.runtime import lmtp
from mailtix.runtime.app import App
from mailtix.runtime.lmtp import LmtpServer, with_return_path
from mailtix.store.models import Event, OutboxItem, Receipt, Ticket

REPO = Path(__file__).resolve().parents[3]
CONFIG = """\
[store]
url = "sqlite:///mailtix.db"

[smtp]
maildir = "outgoing"

[[mailbox]]
name = "support"
address = "support@acme.example"
maildir = "inbox"
max_message_bytes = 20000

[[mailbox]]
name = "sales"
address = "sales@acme.example"
maildir = "sales-inbox"

[templates]
dir = "{templates}"

[lmtp]
max_sessions = 3
"""


@pytest.fixture
def app(tmp_path: Path) -> App:
    path = tmp_path / "mailtix.toml"
    path.write_text(CONFIG.format(templates=REPO / "templates"))
    return App.open(path)


@pytest.fixture
def server(app: App) -> Iterator[LmtpServer]:
    found = LmtpServer(app.config, app.pipeline, ("127.0.0.1", 0)).start()
    try:
        yield found
    finally:
        found.stop(drain=5)


def mail(subject: str = "Printer on fire", body: str = "It smokes.\n", **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carol <carol@customer.example>"
    msg["To"] = "support@acme.example"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="customer.example")
    for name, value in headers.items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def client(server: LmtpServer) -> LmtpClient:
    return LmtpClient("127.0.0.1", server.port)


def test_a_mail_becomes_one_ticket_and_its_acknowledgement(server: LmtpServer) -> None:
    with client(server) as lmtp:
        assert lmtp.greeting.startswith("220 ")
        rcpts, data = lmtp.deliver("carol@customer.example", ["support@acme.example"], mail())
    assert rcpts == ["250 2.1.5 Recipient ok"]
    [ticket] = Ticket.select()
    assert data == [f"250 2.0.0 ticket SUP-{ticket.id}"]
    assert OutboxItem.select().where(OutboxItem.ticket == ticket).count() == 1
    [receipt] = Receipt.select()
    assert (receipt.mailbox, receipt.uid, receipt.outcome) == ("support", None, "ticket")


def test_a_retried_delivery_is_a_duplicate_not_a_second_ticket(server: LmtpServer) -> None:
    raw = mail()
    with client(server) as lmtp:
        _, first = lmtp.deliver("carol@customer.example", ["support@acme.example"], raw)
        # the MTA did not hear the 250 (a crash, a timeout) and delivers the same bytes again
        _, again = lmtp.deliver("carol@customer.example", ["support@acme.example"], raw, False)
    assert first[0].startswith("250 2.0.0 ticket ")
    assert again[0].startswith("250 2.0.0 duplicate ")
    assert Ticket.select().count() == 1
    assert OutboxItem.select().count() == 1


def test_a_retry_without_message_id_is_deduplicated_by_its_bytes(server: LmtpServer) -> None:
    raw = b"From: carol@customer.example\r\nTo: support@acme.example\r\nSubject: bare\r\n\r\nhi\r\n"
    with client(server) as lmtp:
        _, first = lmtp.deliver("carol@customer.example", ["support@acme.example"], raw)
        _, again = lmtp.deliver("carol@customer.example", ["support@acme.example"], raw, False)
    assert first[0].startswith("250 2.0.0 ticket ") and again[0].startswith("250 2.0.0 duplicate")
    assert Ticket.select().count() == 1


def test_a_resent_copy_with_other_bytes_is_known_by_its_message_id(server: LmtpServer) -> None:
    raw = mail()
    resent = b"Received: from mx2.customer.example; Thu, 3 Dec 2026 06:00:00 +0000\r\n" + raw
    with client(server) as lmtp:
        _, first = lmtp.deliver("carol@customer.example", ["support@acme.example"], raw)
        _, again = lmtp.deliver("carol@customer.example", ["support@acme.example"], resent, False)
    [ticket] = Ticket.select()
    assert first == [f"250 2.0.0 ticket SUP-{ticket.id}"]
    assert again == [f"250 2.0.0 duplicate SUP-{ticket.id}"]
    assert OutboxItem.select().count() == 1


def test_recipients_by_case_and_tag_and_unknown_ones(server: LmtpServer) -> None:
    to = ["Support+Billing@ACME.example", "nobody@acme.example", "SUPPORT@acme.example"]
    with client(server) as lmtp:
        rcpts, data = lmtp.deliver("carol@customer.example", to, mail())
    assert rcpts[0].startswith("250") and rcpts[2].startswith("250")
    assert rcpts[1] == "550 5.1.1 No such mailbox here"
    [ticket] = Ticket.select()
    assert data == [f"250 2.0.0 ticket SUP-{ticket.id}"] * 2  # one mailbox: handled once
    assert Receipt.select().count() == 1


def test_two_mailboxes_each_get_the_mail_as_imap_would(server: LmtpServer) -> None:
    with client(server) as lmtp:
        _, data = lmtp.deliver(
            "carol@customer.example", ["support@acme.example", "sales@acme.example"], mail()
        )
    [ticket] = Ticket.select()
    assert data == [f"250 2.0.0 ticket SUP-{ticket.id}", f"250 2.0.0 duplicate SUP-{ticket.id}"]
    assert sorted(r.mailbox for r in Receipt.select()) == ["sales", "support"]
    assert Event.select().where(Event.ticket == ticket, Event.type == "copy").count() == 1


def test_oversized_is_refused_per_mailbox_limit(server: LmtpServer) -> None:
    big = mail(body="x" * 60 + "\n" * 1 + ("y" * 70 + "\n") * 400)  # ~29 KB > 20000
    with client(server) as lmtp:
        _, data = lmtp.deliver(
            "carol@customer.example", ["support@acme.example", "sales@acme.example"], big
        )
    assert data[0] == "552 5.3.4 Message too big for this mailbox"
    assert data[1].startswith("250 2.0.0 ticket ")  # sales allows 25 MB
    assert [r.mailbox for r in Receipt.select()] == ["sales"]


def test_over_the_advertised_size_every_recipient_gets_552(app: App) -> None:
    server = LmtpServer(app.config, app.pipeline, ("127.0.0.1", 0))
    server.data_size_limit = 20000  # both mailboxes' limit, as if both had 20000
    server.start()
    try:
        with client(server) as lmtp:
            lhlo = lmtp.command("LHLO test.example")
            assert "250-SIZE 20000" in lhlo
            # a client that ignores SIZE: aiosmtpd stops keeping the data, mailtix answers
            # each recipient, and the session goes on
            _, data = lmtp.deliver(
                "carol@customer.example", ["support@acme.example", "sales@acme.example"],
                mail(body=("y" * 70 + "\n") * 400), lhlo=False,
            )  # fmt: skip
            assert data == ["552 5.3.4 Message too big for this mailbox"] * 2
            assert lmtp.command("MAIL FROM:<a@b.example> SIZE=30000").startswith("552")
            assert lmtp.command("NOOP").startswith("250")
    finally:
        server.stop(drain=5)
    assert Receipt.select().count() == 0


def test_an_over_long_line_is_refused_once_per_recipient(server: LmtpServer) -> None:
    raw = mail().replace(b"It smokes.", b"z" * 3000)
    with client(server) as lmtp:
        _, data = lmtp.deliver(
            "carol@customer.example", ["support@acme.example", "sales@acme.example"], raw
        )
        assert data == ["500 5.5.2 Line too long"] * 2
        assert lmtp.command("NOOP").startswith("250")  # still in step with the server
    assert Receipt.select().count() == 0


def test_null_sender_becomes_return_path_so_a_bounce_is_automated(server: LmtpServer) -> None:
    raw = mail(subject="Undelivered Mail Returned to Sender")
    carol = b"From: Carol <carol@customer.example>"
    raw = raw.replace(carol, b"From: MAILER-DAEMON@customer.example")
    with client(server) as lmtp:
        _, data = lmtp.deliver("", ["support@acme.example"], raw)
    assert data[0].startswith("250 2.0.0 ")
    assert OutboxItem.select().count() == 0  # no acknowledgement to a mail daemon


def test_return_path_carries_no_line_break_or_angle() -> None:
    assert with_return_path("a@b.example", b"X: y\r\n") == b"Return-Path: <a@b.example>\r\nX: y\r\n"
    assert with_return_path("", b"") == b"Return-Path: <>\r\n"
    assert with_return_path(None, b"") == b"Return-Path: <>\r\n"
    assert with_return_path("a>\r\nBcc: x@y", b"") == b"Return-Path: <aBcc:x@y>\r\n"


def test_a_failing_store_is_451_and_the_retry_succeeds(
    server: LmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mailtix.desks.pipeline as pipeline

    def store_down(*args: object, **kwargs: object) -> object:
        raise OperationalError("disk I/O error")

    raw = mail()
    with client(server) as lmtp, monkeypatch.context() as down:
        down.setattr(pipeline, "begin_first_attempts", store_down)  # grouped
        down.setattr(pipeline, "begin_attempt", store_down)  # and alone
        _, first = lmtp.deliver("carol@customer.example", ["support@acme.example"], raw)
        assert first == ["451 4.3.0 Temporary failure, please try again later"]
        assert Ticket.select().count() == 0
        down.undo()
        _, again = lmtp.deliver("carol@customer.example", ["support@acme.example"], raw, False)
    assert again[0].startswith("250 2.0.0 ticket ")
    assert Ticket.select().count() == 1


def test_sessions_over_max_sessions_are_told_421(server: LmtpServer) -> None:
    held = [client(server) for _ in range(3)]
    try:
        with client(server) as extra:
            assert extra.greeting.startswith("421 4.3.2 ")
        held[0].close()
        time.sleep(0.2)
        with client(server) as again:
            assert again.greeting.startswith("220 ")
    finally:
        for one in held:
            one.close()


def test_commands_without_a_mail_end_the_session_and_free_its_slot(
    server: LmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lmtp, "MAX_IDLE_COMMANDS", 5)
    held = [client(server) for _ in range(3)]
    try:
        assert held[0].command("LHLO test.example").startswith("250")
        replies = [held[0].command(c) for c in ("NOOP", "RSET", "VRFY x", "NOOP")]
        assert all(r.startswith(("250", "252")) for r in replies), replies
        assert held[0].command("NOOP") == "421 4.7.0 Too many commands without a mail, closing"
        assert held[0].reply() == ""  # closed by mailtix
        time.sleep(0.2)
        with client(server) as newcomer:
            assert newcomer.greeting.startswith("220 ")
            assert newcomer.command("NOOP").startswith("250")
    finally:
        for one in held:
            one.close()


def test_many_mails_in_one_session_never_reach_the_command_cap(
    server: LmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lmtp, "MAX_IDLE_COMMANDS", 3)
    with client(server) as lmtp_session:
        assert lmtp_session.command("LHLO test.example").startswith("250")
        answers = []
        for n in range(6):  # as Postfix reusing a cached connection: RSET, MAIL, RCPT, DATA
            assert lmtp_session.command("RSET").startswith("250")
            raw = mail(subject=f"mail {n}")
            answers += lmtp_session.deliver("c@customer.example", ["support@acme.example"],
                                            raw, lhlo=False)[1]  # fmt: skip
    assert [a[:16] for a in answers] == ["250 2.0.0 ticket"] * 6
    assert Ticket.select().count() == 6


def test_a_session_past_its_lifetime_is_closed_and_its_mail_left_to_the_mta(
    server: LmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lmtp, "SESSION_SECONDS", 0.5)
    with client(server) as old, client(server) as leaving:
        assert old.command("LHLO test.example").startswith("250")
        assert old.command("MAIL FROM:<carol@customer.example>").startswith("250")
        time.sleep(0.7)
        assert old.command("RCPT TO:<support@acme.example>") == (
            "421 4.4.2 Session open too long, closing"
        )
        assert old.reply() == ""
        assert leaving.command("QUIT").startswith("221")  # QUIT is always answered
    assert Ticket.select().count() == 0 and Receipt.select().count() == 0


def test_help_still_knows_each_command_syntax(server: LmtpServer) -> None:
    with client(server) as session:
        assert session.command("HELP NOOP") == "250 Syntax: NOOP [ignored]"


def test_stop_answers_the_delivery_in_flight_first(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = LmtpServer(app.config, app.pipeline, ("127.0.0.1", 0)).start()
    slow = threading.Event()
    real = app.pipeline.process

    def slow_process(*args: object, **kwargs: object) -> object:
        slow.set()
        time.sleep(1.0)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(app.pipeline, "process", slow_process)
    answers: list[str] = []
    lmtp = client(server)

    def deliver() -> None:
        answers.extend(lmtp.deliver("carol@customer.example", ["support@acme.example"], mail())[1])

    thread = threading.Thread(target=deliver)
    thread.start()
    assert slow.wait(5)
    server.stop(drain=10)  # SIGTERM in the middle of a delivery
    thread.join(5)
    lmtp.close()
    assert answers and answers[0].startswith("250 2.0.0 ticket ")
    assert Ticket.select().count() == 1


def test_a_client_gone_in_the_middle_stops_nothing(
    server: LmtpServer, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    real = app.pipeline.process

    def held(*args: object, **kwargs: object) -> object:
        started.set()
        release.wait(10)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(app.pipeline, "process", held)
    first = client(server)
    first.command("LHLO test.example")
    first.command("MAIL FROM:<carol@customer.example>")
    first.command("RCPT TO:<support@acme.example>")
    first.command("DATA")
    first.sock.sendall(mail(subject="first").replace(b"\n", b"\r\n") + b".\r\n")
    assert started.wait(5)
    # another session queues behind it, then gives up before its turn: cancelled
    second = client(server)
    second.command("LHLO test.example")
    second.command("MAIL FROM:<carol@customer.example>")
    second.command("RCPT TO:<support@acme.example>")
    second.command("DATA")
    second.sock.sendall(mail(subject="gone").replace(b"\n", b"\r\n") + b".\r\n")
    time.sleep(0.3)
    second.close()
    first.close()  # and the first goes too, while it is being handled
    time.sleep(0.3)
    release.set()
    with client(server) as third:  # the worker still serves
        _, data = third.deliver("carol@customer.example", ["support@acme.example"], mail("3rd"))
    assert data[0].startswith("250 2.0.0 ticket ")
    subjects = sorted(t.subject for t in Ticket.select())
    assert subjects == ["3rd", "first"]  # "gone" was never handled: the MTA still has it


def test_a_failing_hook_leaves_the_worker_serving(app: App) -> None:
    from mailtix.runtime.lmtp_worker import DeliveryWorker

    def broken() -> None:
        raise RuntimeError("sender gone")

    worker = DeliveryWorker(app.pipeline, on_commit=broken).start()
    first = worker.submit(mail(subject="one"), ["support"]).result(timeout=30)
    second = worker.submit(mail(subject="two"), ["support"]).result(timeout=30)
    worker.stop(timeout=10)
    # each answered before the hook ran; the second shows the thread lived on
    assert [r["support"].kind for r in (first, second)] == ["ticket"] * 2  # type: ignore[union-attr]
    assert Ticket.select().count() == 2


def test_deliveries_waiting_together_share_one_durable_commit(app: App) -> None:
    from mailtix.runtime.lmtp_worker import DeliveryWorker

    commits: list[int] = []
    seen: list[tuple[str, str]] = []
    worker = DeliveryWorker(
        app.pipeline, on_commit=lambda: commits.append(1), on_outcome=lambda *o: seen.append(o)
    )
    futures = [worker.submit(mail(subject=f"n{i}"), ["support"]) for i in range(12)]
    worker.start()  # all twelve are waiting when it starts: one group
    results = [f.result(timeout=30) for f in futures]
    worker.stop(timeout=10)
    assert [r["support"].kind for r in results] == ["ticket"] * 12  # type: ignore[union-attr]
    assert worker.groups == 1 and commits == [1]
    assert seen == [("support", "ticket")] * 12
    assert Ticket.select().count() == 12


def test_concurrent_sessions_each_get_their_answers(server: LmtpServer) -> None:
    answers: list[str] = []

    def three(i: int) -> None:
        with client(server) as lmtp:
            for n in range(3):
                subject = f"s{i}-{n}"
                _, data = lmtp.deliver(
                    "carol@customer.example", ["support@acme.example"], mail(subject=subject),
                    lhlo=n == 0,
                )  # fmt: skip
                answers.extend(data)

    threads = [threading.Thread(target=three, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(answers) == 9 and all(a.startswith("250 2.0.0 ticket ") for a in answers)
    assert len(set(answers)) == 9
    assert Ticket.select().count() == 9
