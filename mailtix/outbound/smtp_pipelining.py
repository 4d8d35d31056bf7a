"""RFC 2920 PIPELINING for ``smtp_sender``: one mail's MAIL FROM, RCPT TOs and DATA in one write,
their replies read in order, and the message itself only after DATA's 354.

Part of the SMTP adapter, so it works on aiosmtplib's connection and speaks in aiosmtplib's
exceptions (``smtp_sender.classify`` maps them as for the one-command-at-a-time path). While a
group is out, a small protocol of its own (``_Replies``) takes the connection's bytes: it keeps
every reply that arrives, several in one packet or one split over many, where aiosmtplib's
protocol waits for one reply per command written and drops what comes before it asks. The
replies are judged purely (``judge``): a refused MAIL FROM refuses the whole mail, refused
recipients are listed as ``sendmail`` lists them, and a DATA answered 354 after a refusal gets
a lone "." instead of the message, so the body is never sent for an envelope the server did not
take whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence

import aiosmtplib
from aiosmtplib.protocol import normalize_message_line_endings

MAX_REPLY_BYTES = 32 * 1024  # as aiosmtplib: a reply longer than this is not an SMTP reply
CLOSING = 421  # the server is closing the connection: no further replies will come
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")  # no CR, LF or NUL may reach a command line
_LEADING_DOT = re.compile(rb"(?m)^\.")

Reply = aiosmtplib.SMTPResponse
HandOver = Callable[[Callable[[], Awaitable[Reply]]], Awaitable[Reply]]


def take_replies(buffer: bytearray) -> list[Reply]:
    """The complete replies at the start of ``buffer``, removed from it (pure). A reply is
    lines of ``ddd-text`` ending with one ``ddd text``; its message is the lines' texts joined
    by newlines, as aiosmtplib gives it. A malformed line is SMTPResponseException(-1)."""
    replies: list[Reply] = []
    start = offset = 0
    lines: list[bytes] = []
    while (end := buffer.find(b"\n", offset)) != -1:
        line = bytes(buffer[offset : end + 1])
        offset = end + 1
        if not line[:3].isdigit() or line[3:4] not in (b" ", b"-", b"\r", b"\n"):
            text = line.decode("utf-8", "replace").strip()
            raise aiosmtplib.SMTPResponseException(-1, f"Malformed SMTP response line: {text}")
        lines.append(line[4:].strip(b" \t\r\n"))
        if line[3:4] != b"-":
            message = b"\n".join(lines).decode("utf-8", "surrogateescape")
            replies.append(Reply(int(line[:3]), message))
            lines, start = [], offset
    del buffer[:start]
    if len(buffer) > MAX_REPLY_BYTES:
        raise aiosmtplib.SMTPResponseException(-1, "Response too long")
    return replies


class _Replies(asyncio.Protocol):
    """Takes a connection's bytes in place of aiosmtplib's protocol (``inner``) and queues
    every reply; a lost connection is passed on to ``inner``, so the client knows it too."""

    def __init__(self, inner: asyncio.BaseProtocol) -> None:
        self.inner = inner
        self._buffer = bytearray()
        self._queue: deque[Reply] = deque()
        self._failure: Exception | None = None
        self._arrived: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        if self._failure is not None:
            return
        self._buffer.extend(data)
        try:
            self._queue.extend(take_replies(self._buffer))
        except aiosmtplib.SMTPResponseException as exc:
            self._failure = exc
        self._wake()

    def eof_received(self) -> bool:
        self._fail(aiosmtplib.SMTPServerDisconnected("Unexpected EOF received"))
        return False  # the transport closes, and connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        lost = aiosmtplib.SMTPServerDisconnected("Connection lost")
        lost.__cause__ = exc
        self._fail(lost)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def _fail(self, exc: Exception) -> None:
        if self._failure is None:
            self._failure = exc
        self._wake()

    def _wake(self) -> None:
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)

    async def next(self, timeout: float | None) -> Reply:
        """The next reply; SMTPServerDisconnected once the connection is gone (replies that
        came before still come first), SMTPReadTimeoutError after ``timeout`` without one."""
        while not self._queue:
            if self._failure is not None:
                raise self._failure
            self._arrived = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._arrived, timeout)
            except TimeoutError as exc:
                message = "Timed out waiting for server response"
                raise aiosmtplib.SMTPReadTimeoutError(message) from exc
            finally:
                self._arrived = None
        return self._queue.popleft()


@contextlib.contextmanager
def _reading(client: aiosmtplib.SMTP) -> Iterator[tuple[asyncio.WriteTransport, _Replies]]:
    protocol = client.protocol
    transport = protocol.transport if protocol is not None else None
    if protocol is None or not isinstance(transport, asyncio.WriteTransport):
        raise aiosmtplib.SMTPServerDisconnected("Server not connected")
    if transport.is_closing():
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    replies = _Replies(protocol)
    transport.set_protocol(replies)
    try:
        yield transport, replies
    finally:
        transport.set_protocol(protocol)


def judge(
    sender: str, recipients: Sequence[str], replies: Sequence[Reply], lost: Exception
) -> tuple[dict[str, Reply], Exception | None]:
    """What the replies to MAIL, RCPT for each of ``recipients`` and DATA (fewer, when the
    connection ended: ``lost``) mean, as aiosmtplib's ``sendmail`` would have raised it (pure):
    the recipients refused, and the error, if the message must not be sent."""
    if not replies:
        return {}, lost
    mail, answered = replies[0], replies[1 : 1 + len(recipients)]
    if mail.code != 250:
        return {}, aiosmtplib.SMTPSenderRefused(mail.code, mail.message, sender)
    taken = (250, 251)
    refused = {
        who: reply
        for who, reply in zip(recipients, answered, strict=False)  # fewer replies: cut off
        if reply.code not in taken
    }
    if len(answered) < len(recipients):
        return refused, lost
    if len(refused) == len(recipients):
        return refused, aiosmtplib.SMTPRecipientsRefused([
            aiosmtplib.SMTPRecipientRefused(r.code, r.message, who) for who, r in refused.items()
        ])  # fmt: skip
    if len(replies) < len(recipients) + 2:
        return refused, lost
    if replies[-1].code != 354:
        return refused, aiosmtplib.SMTPDataError(replies[-1].code, replies[-1].message)
    return refused, None


def dot_stuffed(raw: bytes) -> bytes:
    """``raw`` as DATA sends it: CRLF line ends, leading dots doubled, the ending ".". The
    mail mailtix composes has CRLF line ends and rarely a line that starts with a dot: the
    two regular expressions run only when counting bytes says they could change something."""
    ends = raw.count(b"\r\n")
    if not (ends == raw.count(b"\n") == raw.count(b"\r") and raw.endswith(b"\r\n")):
        raw = normalize_message_line_endings(raw)
    if raw.startswith(b".") or b"\n." in raw:
        raw = _LEADING_DOT.sub(b"..", raw)
    return raw + b".\r\n"


async def mail_pipelined(
    client: aiosmtplib.SMTP,
    sender: str,
    recipients: Sequence[str],
    commands: Sequence[bytes],
    raw: bytes,
    hand_over: HandOver,
) -> dict[str, Reply]:
    """Send ``commands`` (MAIL, the RCPTs, DATA) in one write and read their replies; after a
    354 with the envelope taken, ``raw`` under ``hand_over`` (the handover lock and the
    accepted hook). The recipients refused, if not all were; else aiosmtplib's exception."""
    for command in commands:
        if _CONTROL.search(command):
            raise ValueError("Command arg contains a prohibited control character")
    with _reading(client) as (transport, replies):
        transport.write(b"".join(command + b"\r\n" for command in commands))
        answers, lost = await _read_group(client, replies, len(commands))
        refused, error = judge(sender, recipients, answers, lost)
        if error is None:
            await hand_over(lambda: _send_body(client, transport, replies, raw))
            return refused
        if len(answers) == len(commands) and answers[-1].code == 354:
            transport.write(b".\r\n")  # RFC 2920 3.1: end the DATA no envelope was taken for
            with contextlib.suppress(aiosmtplib.SMTPException):
                await _read(client, replies)
        raise error


async def _read_group(
    client: aiosmtplib.SMTP, replies: _Replies, count: int
) -> tuple[list[Reply], Exception]:
    """Up to ``count`` replies: fewer when the server closes (421) or the connection goes."""
    answers: list[Reply] = []
    while len(answers) < count:
        try:
            answers.append(await _read(client, replies))
        except aiosmtplib.SMTPServerDisconnected as exc:
            return answers, exc
        if answers[-1].code == CLOSING:
            return answers, aiosmtplib.SMTPServerDisconnected(_text(answers[-1]))
    return answers, aiosmtplib.SMTPServerDisconnected("Connection lost")


async def _read(client: aiosmtplib.SMTP, replies: _Replies) -> Reply:
    """One reply; the client is closed when none can follow (timeout, lost, 421)."""
    try:
        reply = await replies.next(client.timeout)
    except aiosmtplib.SMTPException:  # lost, timed out (a late reply would be taken for the
        client.close()  # next command's), or not SMTP at all
        raise
    if reply.code == CLOSING:
        client.close()
    return reply


async def _send_body(
    client: aiosmtplib.SMTP, transport: asyncio.WriteTransport, replies: _Replies, raw: bytes
) -> Reply:
    transport.write(dot_stuffed(raw))
    reply = await _read(client, replies)
    if reply.code != 250:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)
    return reply


def _text(reply: Reply) -> str:
    return f"{reply.code} {reply.message}"
