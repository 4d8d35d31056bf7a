"""Send composed messages over SMTP: with ``smtp_pipelining`` (its RFC 2920 part), the only
module that imports aiosmtplib.

Transport security fails closed: ``security = "tls"`` is implicit TLS, ``"starttls"`` demands the
STARTTLS upgrade (a server that does not offer it is refused, never used in plain text) and
certificates are always verified. Every failure becomes one ``SendError`` whose one-line message
says what the server answered; ``permanent`` is True for 5xx answers, bad addresses and TLS
failures, False for 4xx answers, timeouts and lost connections (the outbox retries those).
Passwords never appear in messages or logs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

import aiosmtplib
from aiosmtplib.email import quote_address

from mailtix.config.model import SmtpConfig
from mailtix.domain.errors import SendError
from mailtix.outbound import smtp_pipelining
from mailtix.signin.tokens import SignInError, fresh_token, smtp_account

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 500
_TLS_REFUSAL = "(refusing to send in plain text)"
_T = TypeVar("_T")


def _one_line(text: str, secret: str | None = None) -> str:
    if secret:
        text = text.replace(secret, "***")
    return " ".join(text.split())[:MAX_ERROR_CHARS]


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    """The ssl error (bad certificate, handshake failure) behind ``exc``, if there is one."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _response_text(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {exc.message}"


def classify(exc: BaseException, *, phase: str = "send", host: str = "") -> SendError:
    """The SendError for an exception raised while talking SMTP during ``phase``.

    ``phase`` is "connect", "starttls", "login" or "send". Pure: takes aiosmtplib's exception
    objects (or ssl/OS errors) and decides permanent vs. temporary and the one-line message.
    """
    tls_error = _tls_cause(exc)
    if tls_error is not None:
        return SendError(f"TLS failed: {tls_error} {_TLS_REFUSAL}", permanent=True)
    if phase == "starttls":
        return _classify_starttls(exc)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in exc.recipients]
        text = "; ".join(f"{r.recipient}: {_response_text(r)}" for r in exc.recipients)
        return SendError(text, permanent=bool(codes) and all(500 <= c < 600 for c in codes))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        prefix = "login failed: " if phase == "login" else ""
        return SendError(prefix + _response_text(exc), permanent=500 <= exc.code < 600)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return SendError(
            f"timed out talking to {host}: {exc}", permanent=False, connection_lost=True
        )
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return SendError(
            f"server {host} disconnected: {exc}", permanent=False, connection_lost=True
        )
    if isinstance(exc, aiosmtplib.SMTPConnectError | OSError):
        return SendError(f"cannot connect to {host}: {exc}", permanent=False, connection_lost=True)
    if isinstance(exc, ValueError | UnicodeError):  # e.g. an address aiosmtplib will not send
        return SendError(f"invalid address: {exc}", permanent=True)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return SendError(f"not supported by {host}: {exc}", permanent=True)
    if phase == "login":  # e.g. no AUTH offered: a configuration problem, retrying will not help
        return SendError(f"login failed: {exc}", permanent=True)
    return SendError(f"{phase} failed: {exc}", permanent=False)


def _classify_starttls(exc: BaseException) -> SendError:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        detail, permanent = _response_text(exc), 500 <= exc.code < 600
    elif isinstance(exc, aiosmtplib.SMTPTimeoutError | aiosmtplib.SMTPServerDisconnected):
        detail, permanent = f"{exc}", False
    else:  # STARTTLS not offered (stripped?), protocol trouble
        detail, permanent = f"{exc}", True
    lost = isinstance(exc, aiosmtplib.SMTPTimeoutError | aiosmtplib.SMTPServerDisconnected)
    return SendError(
        f"TLS failed: {detail} {_TLS_REFUSAL}", permanent=permanent, connection_lost=lost
    )


class SignedIn(NamedTuple):
    mechanism: str  # LOGIN/PLAIN/... (aiosmtplib's choice) for a password, else OAUTHBEARER
    # or XOAUTH2
    expires_at: float  # when the access token expires (inf for a password)


async def login(
    client: aiosmtplib.SMTP, config: SmtpConfig, account: str = "smtp"
) -> SignedIn | None:
    """Sign ``client`` in as ``config`` says (None: no login configured): its password, or
    SASL OAUTHBEARER (where offered, else XOAUTH2) with a fresh access token of ``account``,
    refreshed and tried once more when the server refuses the cached one. The one place an
    SMTP connection authenticates; senders of every account call it."""
    if config.auth != "oauth2":
        if not (config.username and config.password is not None):
            return None
        await client.login(config.username, config.password)
        return SignedIn("password", float("inf"))
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()
    who = smtp_account(config, account)
    try:
        token = await asyncio.to_thread(fresh_token, who)
    except SignInError as exc:
        raise SendError(str(exc), permanent=False, connection_lost=True) from None
    mech = "OAUTHBEARER" if "OAUTHBEARER" in client.server_auth_methods else "XOAUTH2"
    try:
        await _authenticate(client, mech, who.username, token.value)
    except aiosmtplib.SMTPAuthenticationError:
        try:
            token = await asyncio.to_thread(fresh_token, who, force=True)
            await _authenticate(client, mech, who.username, token.value)
        except SignInError as exc:
            raise SendError(str(exc), permanent=False, connection_lost=True) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise SendError(
                f"{who.name}: the server refused the OAuth2 token ({exc.code}); "
                f"if it was revoked, run: {who.login_command}",
                permanent=False, connection_lost=True,
            ) from None  # fmt: skip
    return SignedIn(mech, token.expires_at)


async def _authenticate(client: aiosmtplib.SMTP, mech: str, user: str, token: str) -> None:
    if mech == "XOAUTH2":
        await client.auth_xoauth2(user, token)
        return
    name = user.replace("=", "=3D").replace(",", "=2C")
    blob = base64.b64encode(f"n,a={name},\x01auth=Bearer {token}\x01\x01".encode()).decode()
    response = await client.execute_command(b"AUTH", b"OAUTHBEARER", blob.encode())
    if response.code == 334:  # RFC 7628: the error comes as a challenge; answer with ^A
        response = await client.execute_command(b"\x01")
    if response.code != 235:
        raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client, with the message itself (from DATA, or after a pipelined DATA's
    354, to the server's answer: the moment it takes the message) sent under ``handover``, a
    lock the connections of one drain share, together with ``on_accepted`` (``hand_over``): so
    the envelopes of several connections overlap, but only one message at a time is ever
    accepted by the server and not yet marked sent (the crash bound)."""

    handover: asyncio.Lock | None = None
    on_accepted: Callable[[], None] | None = None

    async def data(self, message: str | bytes, /, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        return await self.hand_over(functools.partial(super().data, message, **kwargs))

    async def hand_over(
        self, send: Callable[[], Awaitable[aiosmtplib.SMTPResponse]]
    ) -> aiosmtplib.SMTPResponse:
        """``send`` the message itself (until the server's answer to it) under the handover,
        then ``on_accepted``."""
        async with self.handover or contextlib.nullcontext():
            response = await send()
            if self.on_accepted is not None:
                try:
                    self.on_accepted()
                except Exception as exc:  # not a send failure: _step lets it through
                    raise AcceptedHookFailed(exc) from exc
            return response

    async def mail_one(
        self, sender: str, recipients: Sequence[str], raw: bytes, utf8: bool
    ) -> dict[str, aiosmtplib.SMTPResponse]:
        """MAIL, RCPT for each recipient, DATA: what aiosmtplib's ``sendmail`` does (every
        address checked before anything is sent, RSET after a refusal), with each address
        quoted once and remembered (``_path``) instead of parsed four times a mail, and in one
        write where the server offers PIPELINING (``smtp_pipelining``); the recipients
        refused, if not all were (else SMTPRecipientsRefused)."""
        encoding = "utf-8" if utf8 else "ascii"
        paths = [_path(address, encoding) for address in (sender, *recipients)]
        if self.is_ehlo_or_helo_needed:
            await self.ehlo()
        if utf8 and not self.supports_extension("smtputf8"):
            raise aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported by this server")
        options = [b"SMTPUTF8"] if utf8 else []
        if self.supports_extension("size"):
            options.insert(0, b"SIZE=%d" % _data_size(raw))
        try:
            if self.supports_extension("pipelining"):
                commands = [b" ".join([b"MAIL FROM:" + paths[0], *options])]
                commands += [b"RCPT TO:" + path for path in paths[1:]]
                return await smtp_pipelining.mail_pipelined(
                    self, sender, recipients, [*commands, b"DATA"], raw, self.hand_over
                )
            return await self._mail_in_turn(sender, recipients, paths, options, raw)
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
                await self.rset()  # the envelope is reset for the next message
            raise

    async def _mail_in_turn(
        self,
        sender: str,
        recipients: Sequence[str],
        paths: Sequence[bytes],
        options: Sequence[bytes],
        raw: bytes,
    ) -> dict[str, aiosmtplib.SMTPResponse]:
        """MAIL, each RCPT and DATA, each command waiting for the answer to the one before."""
        response = await self.execute_command(b"MAIL", b"FROM:" + paths[0], *options)
        if response.code != 250:
            raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)
        refused: dict[str, aiosmtplib.SMTPResponse] = {}
        for recipient, path in zip(recipients, paths[1:], strict=True):
            response = await self.execute_command(b"RCPT", b"TO:" + path)
            if response.code not in (250, 251):
                refused[recipient] = response
        if len(refused) == len(recipients):
            raise aiosmtplib.SMTPRecipientsRefused([
                aiosmtplib.SMTPRecipientRefused(r.code, r.message, who)
                for who, r in refused.items()
            ])  # fmt: skip
        await self.data(raw)
        return refused


def _data_size(raw: bytes) -> int:
    """The size RFC 1870 declares: of ``raw`` as DATA sends it, each bare CR or LF a CRLF,
    ending with one."""
    pairs = raw.count(b"\r\n")
    ending = 0 if raw.endswith((b"\n", b"\r")) else 2
    return len(raw) + (raw.count(b"\n") - pairs) + (raw.count(b"\r") - pairs) + ending


@functools.lru_cache(maxsize=4096)
def _path(address: str, encoding: str) -> bytes:
    """``<address>`` for MAIL FROM / RCPT TO, checked by aiosmtplib against characters that
    could smuggle parameters or commands onto the line (ValueError, never remembered)."""
    return quote_address(address).encode(encoding)


class AcceptedHookFailed(Exception):
    """``on_accepted`` failed after the server took the message (e.g. the store is gone): the
    drain must stop, not count it as a failed send and go on."""


def _new_client(config: SmtpConfig) -> _Client:
    return _Client(
        hostname=config.host,
        port=config.port,
        use_tls=config.security == "tls",
        start_tls=False,  # done explicitly below, so it can never be skipped silently
        validate_certs=True,
        timeout=config.timeout,
    )


class SmtpSender:
    """One SMTP connection for a batch of messages: ``async with SmtpSender(cfg) as s: ...``."""

    def __init__(
        self, config: SmtpConfig, handover: asyncio.Lock | None = None, account: str = "smtp"
    ) -> None:
        self.config = config
        self.handover = handover  # shared by the connections of one drain (see _Client)
        self.account = account  # how an OAuth2 account is named in messages
        self._client: _Client | None = None
        self.signed_in: SignedIn | None = None

    @property
    def _where(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    async def _step(self, phase: str, operation: Awaitable[_T]) -> _T:
        try:
            return await operation
        except AcceptedHookFailed as exc:
            raise exc.__cause__ or exc from None
        except SendError:  # already one line (e.g. an OAuth2 sign-in that failed)
            raise
        except Exception as exc:
            error = classify(exc, phase=phase, host=self._where)
            message = _one_line(str(error), self.config.password)
            if self.account != "smtp":  # a [mailbox.smtp]: say which one
                message = f"{self.account}: {message}"
            raise SendError(
                message, permanent=error.permanent, connection_lost=error.connection_lost
            ) from None

    async def __aenter__(self) -> SmtpSender:
        client = _new_client(self.config)
        client.handover = self.handover
        try:
            await self._step("connect", client.connect())
            if self.config.security == "starttls":
                await self._step("starttls", client.starttls())
            self.signed_in = await self._step("login", login(client, self.config, self.account))
        except SendError:
            client.close()
            raise
        self._client = client
        log.debug("connected to SMTP %s (%s)", self._where, self.config.security)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is None or not client.is_connected:
            return
        try:
            await client.quit()
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            client.close()

    async def reset(self) -> bool:
        """RSET, so a connection kept from an earlier drain is known to answer (False: it
        is closed, e.g. the server timed it out)."""
        if self._client is None or not self._client.is_connected:
            return False
        try:
            await self._step("send", self._client.rset())
        except SendError as exc:
            log.debug("SMTP %s: a kept connection did not answer RSET: %s", self._where, exc)
            self._client.close()
            self._client = None
            return False
        return True

    async def send(
        self,
        envelope_from: str,
        recipients: Sequence[str],
        raw: bytes,
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        """Hand ``raw`` to the server for ``recipients``; SendError unless every one is taken.
        ``on_accepted`` runs as soon as the server has taken it, still under the handover."""
        if self.signed_in is not None and time.time() >= self.signed_in.expires_at:
            log.info("SMTP %s: access token expired; signing in again", self._where)
            await self.__aexit__(None, None, None)
            await self.__aenter__()
        if self._client is None:
            raise SendError(
                f"not connected to {self._where}", permanent=False, connection_lost=True
            )
        if not recipients:
            raise SendError("no recipients", permanent=True)
        utf8 = not all(a.isascii() for a in (envelope_from, *recipients))
        self._client.on_accepted = on_accepted
        sending = self._client.mail_one(envelope_from, recipients, raw, utf8)
        try:
            refused = await self._step("send", sending)
        finally:
            self._client.on_accepted = None
        for recipient, response in refused.items():
            log.warning("SMTP %s refused %s: %s %s", self._where, recipient, *response)
