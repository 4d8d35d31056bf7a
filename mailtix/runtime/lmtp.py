"""The LMTP server (aiosmtpd in LMTP mode) of ``mailtix lmtp`` and of ``mailtix run`` with
``[lmtp] listen``: the MTA delivers each mail once, mailtix answers every recipient only after
that mail is committed (``lmtp_worker``), so the MTA keeps whatever was not acknowledged.

The protocol stays in aiosmtpd; the handler asks ``decisions.lmtp_replies`` which mailbox a
recipient is and what to answer, and hands the mail to the delivery worker, a thread, so the
event loop goes on serving other sessions meanwhile. The server runs its own event loop in a
thread; ``stop`` refuses new mail, waits for the deliveries in flight to be answered, then
closes the sessions that are left.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import Envelope, Session

from mailtix.config.model import Config
from mailtix.decisions import lmtp_replies as replies
from mailtix.desks.pipeline import Pipeline
from mailtix.domain.errors import MailtixError
from mailtix.runtime.lmtp_worker import DeliveryWorker

log = logging.getLogger(__name__)

DRAIN_SECONDS = 30.0  # how long ``stop`` waits for deliveries in flight
IDLE_TIMEOUT = 300  # seconds a session may wait between commands (RFC 5321 4.5.3.2.7)
# Bounds on one session, so that no client holds a slot for ever: Postfix (3.7 defaults) reuses
# a connection for 300 s (lmtp_connection_reuse_time_limit) and sends at most LHLO, RSET and
# MAIL between two mails, so neither cap bites it; a 421 on its RSET probe makes it reconnect,
# one on MAIL, RCPT or DATA defers the mail (retried later, never bounced).
SESSION_SECONDS = 600  # after this, any command but QUIT is answered 421 and the session closed
MAX_IDLE_COMMANDS = 50  # commands (all but RCPT, DATA, QUIT) allowed without a mail delivered
_UNCOUNTED = frozenset({"RCPT", "DATA", "QUIT"})
# aiosmtpd answers an over-long DATA with one line; LMTP wants one per recipient
_DATA_REFUSALS = ("552 Error: Too much mail data", "500 Line too long")


def with_return_path(mail_from: str | None, content: bytes) -> bytes:
    """The message as an MDA stores it: ``Return-Path:`` with the envelope sender on top (the
    pipeline reads a null sender from it; Postfix drops any the message arrived with)."""
    sender = "".join(c for c in (mail_from or "") if c.isprintable() and c not in "<> ")
    return b"Return-Path: <" + sender.encode("utf-8", "replace") + b">\r\n" + content


class LmtpHandler:
    """aiosmtpd hooks: RCPT maps an address to a mailbox; DATA delivers to each mailbox once."""

    def __init__(self, config: Config, worker: DeliveryWorker) -> None:
        self.config = config
        self.recipients = replies.RecipientMap.of(config.mailboxes, config.lmtp.recipient_delimiter)
        self.worker = worker
        self.in_flight = 0
        self.closing = False

    async def handle_MAIL(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.closing:
            return replies.SHUTTING_DOWN
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = replies.rcpt_reply(self.recipients.mailbox_for(address), len(envelope.rcpt_tos))
        if reply == replies.ACCEPTED:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(options)
        return reply

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        mailboxes = [self.recipients.mailbox_for(r) or "" for r in envelope.rcpt_tos]
        raw = with_return_path(envelope.mail_from, envelope.original_content or b"")
        size = len(envelope.original_content or b"")
        deliver = []
        for name in dict.fromkeys(mailboxes):
            mailbox = self.config.mailbox(name)
            if mailbox is not None and not replies.too_big(size, mailbox.max_message_bytes):
                deliver.append(name)
        self.in_flight += 1
        try:
            results = await asyncio.wrap_future(self.worker.submit(raw, deliver)) if deliver else {}
        except Exception:
            log.exception("LMTP delivery failed")
            results = {}
        finally:
            self.in_flight -= 1
        lines = []
        for name in mailboxes:
            if name not in deliver:
                lines.append(replies.TOO_BIG)
                continue
            outcome = results.get(name)
            kind, ref = (outcome.kind, outcome.ticket_ref) if outcome is not None else (None, None)
            lines.append(replies.delivered_reply(kind, ref))
        return "\r\n".join(lines)


class _Session(LMTP):
    """aiosmtpd's LMTP with a cap on sessions, on a session's lifetime and on its commands
    without a mail, and one refusal per recipient for over-long DATA."""

    def __init__(self, server: LmtpServer, **kwargs: Any) -> None:
        super().__init__(server.handler, **kwargs)
        self._server = server
        self._counted = False
        self._opened = self.loop.time()
        self._idle_commands = 0
        self._smtp_methods = {name: self._bounded(name, method)
                              for name, method in self._smtp_methods.items()}  # fmt: skip

    def _bounded(self, name: str, method: Any) -> Any:
        @functools.wraps(method)
        async def bounded(arg: str | None) -> None:
            refusal = self._refusal(name)
            if refusal is None:
                await method(arg)
                return
            peer = self.session.peer if self.session is not None else None
            log.warning("LMTP session from %s closed at %s: %s", peer, name, refusal[4:])
            await self.push(refusal)
            if self.transport is not None:
                self.transport.close()

        return bounded

    def _refusal(self, command: str) -> str | None:
        """The 421 that ends the session instead of ``command``, or None to go on."""
        if command == "QUIT":
            return None
        if self.loop.time() - self._opened > SESSION_SECONDS:
            return replies.SESSION_TOO_LONG
        if command == "DATA" and self.envelope is not None and self.envelope.rcpt_tos:
            self._idle_commands = 0
        elif command not in _UNCOUNTED:
            self._idle_commands += 1
            if self._idle_commands > MAX_IDLE_COMMANDS:
                return replies.TOO_MANY_COMMANDS
        return None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if len(self._server.sessions) >= self._server.max_sessions or self._server.handler.closing:
            busy = self._server.handler.closing
            reply = replies.SHUTTING_DOWN if busy else replies.TOO_BUSY
            transport.write(reply.encode("ascii") + b"\r\n")  # type: ignore[attr-defined]
            transport.close()
            return
        self._counted = True
        self._server.sessions.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if not self._counted:
            return
        self._server.sessions.discard(self)
        super().connection_lost(error)

    async def push(self, status: Any) -> None:
        text = status.decode("ascii", "replace") if isinstance(status, bytes) else status
        if self.envelope is not None and self.envelope.rcpt_tos and text.startswith(_DATA_REFUSALS):
            code = replies.TOO_BIG if text.startswith("552") else "500 5.5.2 Line too long"
            status = "\r\n".join(code for _ in self.envelope.rcpt_tos)
        await super().push(status)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class LmtpServer:
    """The server on (host, port), its loop in a thread of its own."""

    def __init__(self, config: Config, pipeline: Pipeline, address: tuple[str, int],
                 on_commit: Any = None, on_outcome: Any = None) -> None:  # fmt: skip
        """``on_commit`` and ``on_outcome``: see ``DeliveryWorker``."""
        self.address = address
        self.max_sessions = config.lmtp.max_sessions
        self.worker = DeliveryWorker(pipeline, on_commit, on_outcome)
        self.handler = LmtpHandler(config, self.worker)
        self.data_size_limit = max((m.max_message_bytes for m in config.mailboxes), default=0)
        self.sessions: set[_Session] = set()
        self.loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="lmtp", daemon=True)

    @property
    def port(self) -> int:
        """The port listened on (the one asked for, or the one chosen for port 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def _session(self) -> _Session:
        return _Session(
            self, data_size_limit=self.data_size_limit, enable_SMTPUTF8=True,
            hostname="mailtix", ident="mailtix LMTP", timeout=IDLE_TIMEOUT, loop=self.loop,
        )  # fmt: skip

    def start(self) -> LmtpServer:
        host, port = self.address
        try:
            self._server = self.loop.run_until_complete(
                self.loop.create_server(self._session, host, port)
            )
        except OSError as exc:
            self.loop.close()
            why = exc.strerror or exc
            raise MailtixError(f"cannot listen for LMTP on {host}:{port}: {why}") from None
        self.worker.start()
        self._thread.start()
        log.info("LMTP on %s:%d", host, self.port)
        return self

    def stop(self, drain: float = DRAIN_SECONDS) -> None:
        """No new sessions or mail; deliveries in flight are answered (for up to ``drain``
        seconds), then every session is closed: what was not answered stays with the MTA."""
        if self._server is None:
            return
        asyncio.run_coroutine_threadsafe(self._refuse(), self.loop).result(5)
        deadline = time.monotonic() + drain
        while self.handler.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        asyncio.run_coroutine_threadsafe(self._close_sessions(), self.loop).result(5)
        self.worker.stop(timeout=drain)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self._server = None

    async def _refuse(self) -> None:
        self.handler.closing = True
        if self._server is not None:
            self._server.close()

    async def _close_sessions(self) -> None:
        for session in list(self.sessions):
            session.close()
        await asyncio.sleep(0.05)  # their connection_lost runs
