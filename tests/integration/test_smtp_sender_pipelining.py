"""SmtpSender with RFC 2920 PIPELINING: against the private Postfix (which offers it), a Postfix
told not to offer it (today's one-command-at-a-time path), and a tiny server of this module
that holds back its replies until the whole group has arrived, so it can tell a pipelining
client from one that waits for each reply, and answer as odd servers do."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.certificate import server_context
from support.mailstack import CUSTOMER_DOMAIN, Mailbox, MailStack, MailStackUnavailable

from mailtix.config.model import SmtpConfig
from mailtix.domain.errors import SendError
from mailtix.domain.values import Address, OutgoingMail
from mailtix.outbound import smtp_pipelining, smtp_sender
from mailtix.outbound.compose import compose, make_message_id
from mailtix.outbound.smtp_sender import SmtpSender

pytestmark = pytest.mark.integration

FreshMailbox = Callable[..., Mailbox]
SUPPORT = "support@example.test"


def config_for(host: str, port: int, timeout: float = 10) -> SmtpConfig:
    return SmtpConfig(host=host, port=port, security="none", timeout=timeout)


def message(*recipients: str) -> bytes:
    return compose(
        OutgoingMail(
            sender=Address(SUPPORT, "Example Support"),
            to=tuple(Address(r) for r in recipients),
            subject="[SUP-7] pipelined",
            text="Hello,\n.\n..two dots\nthanks.\n",
            html="<p>Hello,</p>\n",
            message_id=make_message_id("example.test"),
            auto_submitted="auto-replied",
        )
    )


def send_all(config: SmtpConfig, mails: list[tuple[str, list[str], bytes]]) -> list[Any]:
    """Send ``mails`` over one connection: per mail None, or the SendError it raised."""

    async def run() -> list[Any]:
        async with SmtpSender(config) as sender:
            return await send_each(sender, mails)

    return asyncio.run(run())


async def send_each(sender: SmtpSender, mails: list[tuple[str, list[str], bytes]]) -> list[Any]:
    outcomes: list[Any] = []
    for envelope_from, recipients, raw in mails:
        try:
            await sender.send(envelope_from, recipients, raw)
            outcomes.append(None)
        except SendError as exc:
            outcomes.append(exc)
    return outcomes


@pytest.fixture
def paths_taken(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many mails went each way: pipelined, or one command at a time."""
    taken = {"pipelined": 0, "in_turn": 0}
    pipelined, in_turn = smtp_pipelining.mail_pipelined, smtp_sender._Client._mail_in_turn

    async def count_pipelined(*args: Any, **kwargs: Any) -> Any:
        taken["pipelined"] += 1
        return await pipelined(*args, **kwargs)

    async def count_in_turn(*args: Any, **kwargs: Any) -> Any:
        taken["in_turn"] += 1
        return await in_turn(*args, **kwargs)

    monkeypatch.setattr(smtp_pipelining, "mail_pipelined", count_pipelined)
    monkeypatch.setattr(smtp_sender._Client, "_mail_in_turn", count_in_turn)
    return taken


def body_of(raw: bytes) -> str:
    received = email.message_from_bytes(raw, policy=email.policy.default)
    part = received.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


# -- the private Postfix, which offers PIPELINING ----------------------------------------------


def test_a_mail_to_several_recipients_is_pipelined_and_arrives_for_each(
    mailstack: MailStack, fresh_mailbox: FreshMailbox, paths_taken: dict[str, int]
) -> None:
    boxes = [fresh_mailbox(name, domain=CUSTOMER_DOMAIN) for name in ("carol", "dan", "erin")]
    recipients = [box.address for box in boxes]
    raw = message(*recipients)
    outcomes = send_all(
        config_for(mailstack.host, mailstack.smtp_port), [(SUPPORT, recipients, raw)] * 3
    )
    assert outcomes == [None, None, None]
    assert paths_taken == {"pipelined": 3, "in_turn": 0}
    for box in boxes:
        received = mailstack.wait_for_messages(box.login, count=3)
        assert len(received) == 3
        assert body_of(received[0]) == "Hello,\n.\n..two dots\nthanks.\n"


def test_one_recipient_refused_the_others_get_it_and_the_refusal_is_logged(
    mailstack: MailStack,
    fresh_mailbox: FreshMailbox,
    paths_taken: dict[str, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    carol = fresh_mailbox("carol", domain=CUSTOMER_DOMAIN)
    refused = "someone@unknown-domain.invalid"
    caplog.set_level(logging.WARNING, logger="mailtix.outbound.smtp_sender")
    raw = message(carol.address, refused)
    outcomes = send_all(
        config_for(mailstack.host, mailstack.smtp_port), [(SUPPORT, [refused, carol.address], raw)]
    )
    assert outcomes == [None]
    assert paths_taken["pipelined"] == 1
    [warning] = [r.getMessage() for r in caplog.records if refused in r.getMessage()]
    assert "550 5.1.1" in warning
    assert len(mailstack.wait_for_messages(carol.login, count=1)) == 1


def test_refusals_leave_the_kept_connection_usable(
    mailstack: MailStack, fresh_mailbox: FreshMailbox, paths_taken: dict[str, int]
) -> None:
    """A refused sender (its RCPT and DATA then answered 503) and a mail every recipient of
    which is refused: each a SendError as before, and the next mail on the same connection
    goes through (the envelope was reset)."""
    carol = fresh_mailbox("carol", domain=CUSTOMER_DOMAIN)
    raw = message(carol.address)
    outcomes = send_all(
        config_for(mailstack.host, mailstack.smtp_port),
        [
            ("x@-bad-.example.test", [carol.address], raw),
            (SUPPORT, ["someone@unknown-domain.invalid"], raw),
            (SUPPORT, [carol.address], raw),
        ],
    )
    sender_refused, all_refused, sent = outcomes
    assert isinstance(sender_refused, SendError) and sender_refused.permanent
    assert str(sender_refused).startswith("501 5.1.7")
    assert isinstance(all_refused, SendError) and all_refused.permanent
    assert str(all_refused).startswith("someone@unknown-domain.invalid: 550 5.1.1")
    assert sent is None
    assert paths_taken["pipelined"] == 3
    assert len(mailstack.wait_for_messages(carol.login, count=1)) == 1  # never the refused ones


# -- a Postfix that does not offer PIPELINING --------------------------------------------------


@pytest.fixture(scope="module")
def plain_postfix() -> Iterator[MailStack]:
    directory = tempfile.mkdtemp(prefix="mailtix-stack-")
    stack = MailStack(directory, main_cf="smtpd_discard_ehlo_keywords = pipelining\n")
    try:
        stack.start()
    except MailStackUnavailable as error:
        shutil.rmtree(directory, ignore_errors=True)
        pytest.skip(f"mail stack unavailable: {error}")
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_a_server_without_pipelining_gets_one_command_at_a_time(
    plain_postfix: MailStack, paths_taken: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    carol = plain_postfix.fresh_mailbox("carol", domain=CUSTOMER_DOMAIN)
    refused = "someone@unknown-domain.invalid"
    caplog.set_level(logging.WARNING, logger="mailtix.outbound.smtp_sender")
    raw = message(carol.address)
    outcomes = send_all(
        config_for(plain_postfix.host, plain_postfix.smtp_port),
        [(SUPPORT, [carol.address, refused], raw), (SUPPORT, [refused], raw)],
    )
    assert outcomes[0] is None
    assert isinstance(outcomes[1], SendError) and outcomes[1].permanent
    assert str(outcomes[1]).startswith(f"{refused}: 550 5.1.1")
    assert paths_taken == {"pipelined": 0, "in_turn": 2}
    assert any(refused in r.getMessage() for r in caplog.records)
    assert len(plain_postfix.wait_for_messages(carol.login, count=1)) == 1
    assert "improper command pipelining" not in plain_postfix.log_tail(200)


# -- a tiny server that sees whether the group came in one go ----------------------------------


@dataclass
class Tiny:
    """What the tiny server answers, and what it saw."""

    pipelining: bool = True
    replies: dict[bytes, bytes] = field(default_factory=dict)  # verb -> reply line(s)
    dribble: bool = False  # write every reply one byte at a time
    close_after: bytes = b""  # hang up after answering this verb
    silent: bool = False  # never answer the group
    before_first_reply: list[list[bytes]] = field(default_factory=list)  # a group's verbs
    bodies: list[bytes] = field(default_factory=list)
    verbs: list[bytes] = field(default_factory=list)

    def reply(self, verb: bytes) -> bytes:
        default = {b"DATA": b"354 go on\r\n", b"RSET": b"250 reset\r\n", b"QUIT": b"221 bye\r\n"}
        return self.replies.get(verb, default.get(verb, b"250 ok\r\n"))


GROUP = (b"MAIL", b"RCPT", b"DATA")


@asynccontextmanager
async def tiny_server(tiny: Tiny, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """Holds back its replies to MAIL, RCPT and DATA until DATA has come, or until no more
    commands came for 2 s (a client waiting for each reply); then sends them all."""

    async def write(writer: asyncio.StreamWriter, data: bytes) -> None:
        for chunk in [data[i : i + 1] for i in range(len(data))] if tiny.dribble else [data]:
            writer.write(chunk)
            await writer.drain()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await write(writer, b"220 tiny ESMTP\r\n")
        held: list[bytes] = []
        group: list[bytes] = []
        try:
            while True:
                try:
                    timeout = 2 if held else None
                    line = await asyncio.wait_for(reader.readline(), timeout)
                except TimeoutError:
                    line = b"(waited)"
                if not line:
                    break
                verb = line.split()[0].upper() if line.split() else b""
                if verb in GROUP:
                    tiny.verbs.append(verb)
                    group.append(verb)
                    held.append(tiny.reply(verb))
                    if verb != b"DATA":
                        continue
                elif verb != b"(WAITED)":
                    tiny.verbs.append(verb)
                if held:
                    tiny.before_first_reply.append(group)
                    if tiny.silent:
                        await asyncio.sleep(60)
                    answers, last = b"".join(held), group[-1]
                    held, group = [], []
                    await write(writer, answers)
                    if tiny.close_after and b"421" in answers:
                        break
                    if last == b"DATA" and answers.rsplit(b"\r\n", 2)[-2].startswith(b"354"):
                        body = b""
                        while (got := await reader.readline()) not in (b".\r\n", b""):
                            body += got
                        tiny.bodies.append(body)
                        await write(writer, tiny.reply(b"END"))
                    if verb != b"(WAITED)":
                        continue
                if verb == b"EHLO":
                    offer = b"250-PIPELINING\r\n" if tiny.pipelining else b""
                    await write(writer, b"250-tiny\r\n" + offer + b"250 SIZE 100000\r\n")
                elif verb != b"(WAITED)":
                    await write(writer, tiny.reply(verb))
                    if verb == b"QUIT":
                        break
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    async with server:
        yield server.sockets[0].getsockname()[1]


def run_tiny(
    tiny: Tiny, mails: list[tuple[str, list[str], bytes]], timeout: float = 10
) -> list[Any]:
    async def run() -> list[Any]:
        async with (
            tiny_server(tiny) as port,
            SmtpSender(config_for("127.0.0.1", port, timeout)) as sender,
        ):
            return await send_each(sender, mails)

    return asyncio.run(run())


TWO = ["a@customer.test", "b@customer.test"]
RAW = b"Subject: hi\r\n\r\n.leading dot\r\nbody\r\n"


@pytest.mark.parametrize("dribble", [False, True])
def test_mail_rcpts_and_data_go_out_before_any_reply_is_awaited(dribble: bool) -> None:
    tiny = Tiny(dribble=dribble, replies={b"MAIL": b"250-one\r\n250 two\r\n"})
    assert run_tiny(tiny, [(SUPPORT, TWO, RAW), (SUPPORT, TWO, RAW)]) == [None, None]
    assert tiny.before_first_reply == [[b"MAIL", b"RCPT", b"RCPT", b"DATA"]] * 2
    assert tiny.bodies == [b"Subject: hi\r\n\r\n..leading dot\r\nbody\r\n"] * 2


def test_a_server_not_offering_pipelining_gets_each_command_after_the_last_reply() -> None:
    tiny = Tiny(pipelining=False)
    assert run_tiny(tiny, [(SUPPORT, TWO, RAW)]) == [None]
    assert tiny.before_first_reply == [[b"MAIL"], [b"RCPT"], [b"RCPT"], [b"DATA"]]


@pytest.mark.parametrize("refusal", ["sender", "every recipient"])
def test_a_354_after_a_refused_envelope_gets_a_lone_dot_never_the_message(refusal: str) -> None:
    """A server that answers DATA with 354 although nobody was taken (RFC 2920 says it must
    not; a client must not trust that): the client ends the DATA with "." alone."""
    replies = (
        {b"MAIL": b"550 5.7.1 not you\r\n", b"RCPT": b"503 5.5.1 need MAIL\r\n"}
        if refusal == "sender"
        else {b"RCPT": b"550 5.1.1 no such user\r\n"}
    )
    tiny = Tiny(replies={**replies, b"END": b"554 5.5.1 no valid recipients\r\n"})
    [outcome] = run_tiny(tiny, [(SUPPORT, TWO, RAW)])
    assert isinstance(outcome, SendError) and outcome.permanent
    expected = "550 5.7.1 not you" if refusal == "sender" else "550 5.1.1 no such user"
    assert expected in str(outcome)
    assert tiny.bodies == [b""]  # "." alone: the message never went out
    assert tiny.verbs[-2:] == [b"RSET", b"QUIT"]


def test_a_server_closing_in_the_group_is_a_lost_connection_not_a_refusal() -> None:
    tiny = Tiny(replies={b"RCPT": b"421 4.7.0 too many errors\r\n"}, close_after=b"RCPT")
    [outcome] = run_tiny(tiny, [(SUPPORT, TWO, RAW)])
    assert isinstance(outcome, SendError)
    assert not outcome.permanent and outcome.connection_lost
    assert "421 4.7.0 too many errors" in str(outcome)
    assert tiny.bodies == []


def test_a_temporary_data_refusal_is_temporary_and_the_connection_goes_on() -> None:
    tiny = Tiny(replies={b"END": b"451 4.3.0 try later\r\n"})
    outcome, again = run_tiny(tiny, [(SUPPORT, TWO, RAW)] * 2)
    assert isinstance(outcome, SendError) and not outcome.permanent
    assert str(outcome).startswith("451 4.3.0") and not outcome.connection_lost
    assert isinstance(again, SendError) and str(again).startswith("451")
    assert tiny.verbs.count(b"RSET") == 2 and len(tiny.bodies) == 2


def test_a_server_that_never_answers_the_group_times_out_as_a_lost_connection() -> None:
    tiny = Tiny(silent=True)
    [outcome] = run_tiny(tiny, [(SUPPORT, TWO, RAW)], timeout=1)
    assert isinstance(outcome, SendError)
    assert "timed out" in str(outcome) and outcome.connection_lost and not outcome.permanent


def test_pipelining_works_over_tls(tmp_path: Path) -> None:
    """The replies are read from the TLS transport too (the sender verifies certificates, so
    its client is driven directly here, against the tiny server's self-signed one)."""
    try:
        context = server_context(tmp_path)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make a test certificate: {exc}")
    tiny = Tiny(replies={b"RCPT": b"250 ok\r\n"})

    async def run() -> dict[str, Any]:
        async with tiny_server(tiny, tls=context) as port:
            client = smtp_sender._Client(
                hostname="127.0.0.1", port=port, use_tls=True, validate_certs=False, timeout=10
            )
            await client.connect()
            refused = await client.mail_one(SUPPORT, TWO, RAW, False)
            await client.mail_one(SUPPORT, TWO, RAW, False)
            await client.quit()
            return refused

    assert asyncio.run(run()) == {}
    assert tiny.before_first_reply == [[b"MAIL", b"RCPT", b"RCPT", b"DATA"]] * 2
    assert len(tiny.bodies) == 2 and tiny.verbs[-1] == b"QUIT"
