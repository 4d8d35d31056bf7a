"""Decide whether an incoming mail is verifiably an agent's (pure; no I/O).

Two proofs, checked separately so the caller can require one or both:

1. **Reply token.** Every notification mailtix sends an agent about a ticket carries the
   Message-ID ``<mtx.{ticket}.{nonce}.{tag}@{domain}>``, where ``tag`` is an HMAC-SHA256 of
   (ticket, agent address, nonce) under the site secret. The agent's reply quotes it in
   In-Reply-To/References. The tag is bound to the agent, so a notification forwarded to
   someone else and answered by them proves nothing (research S4). The address never appears
   in the id.
2. **Domain authentication.** Only the topmost Authentication-Results header (RFC 8601) counts,
   the one our own MX added last, and only when its authserv-id is configured as trusted.
   Headers further down may have been written by the sender and are never read (S2, RFC 8601
   §5). It verifies on ``dmarc=pass`` for the From domain, or on a ``dkim=pass`` whose
   ``header.d`` aligns with the From domain: relaxed alignment in one direction, ``d`` equal
   to the From domain or a parent of it (mail from sub.acme.example signed by acme.example).
   A sibling or a child does not count, since without the Public Suffix List the
   organisational domain is unknown. ``header.i`` (the address or ``@domain``) counts only
   when ``header.d`` is absent (Gmail writes none; ``i`` always lies within ``d``) or aligned,
   so ``header.d=evil.example header.i=alice@acme.example`` verifies nothing. SPF alone
   authenticates the envelope, not the From, and never counts. Parsing is authres's job;
   anything it cannot parse fails closed. A trusted ``dmarc=fail`` for the From domain is
   reported as ``failed``: a reply token in such a mail proves nothing either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import authres

from mailtix.domain.values import ParsedMail

MIN_SECRET_BYTES = 16
TAG_LENGTH = 26  # base32 characters: 130 bits of the HMAC
MAX_AUTH_RESULTS_CHARS = 16_384  # authres is quadratic in length; real headers are ~1-2 KB

_NONCE = re.compile(r"[a-z0-9]{1,32}\Z", re.ASCII)
_DOMAIN = re.compile(r"[A-Za-z0-9.-]+\Z", re.ASCII)
_TOKEN = re.compile(
    rf"<?mtx\.(0|[1-9][0-9]{{0,17}})\.([a-z0-9]{{1,32}})\.([a-z2-7]{{{TAG_LENGTH}}})@[^<>\s@]+>?\Z",
    re.ASCII,
)

#: A reply token anywhere in bytes: a quoted, pasted or attached notification carries one.
TOKEN_IN_BYTES = re.compile(
    rb"mtx\.[0-9]{1,18}\.[a-z0-9]{1,32}\.[a-z2-7]{%d}@" % TAG_LENGTH, re.ASCII | re.I
)


# --- reply tokens -------------------------------------------------------------------------


def _tag(secret: bytes, ticket_id: int, agent: str, nonce: str) -> str:
    message = f"{ticket_id}\n{agent.strip().lower()}\n{nonce}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower().rstrip("=")[:TAG_LENGTH]


def notification_message_id(
    secret: bytes, ticket_id: int, agent: str, domain: str, nonce: str | None = None
) -> str:
    """The Message-ID of a notification to ``agent`` about ``ticket_id``: it is the reply token.

    ``nonce`` (10 random lower-case hex characters unless given) keeps every id unique.
    Raises ValueError for a short secret or a value that would not fit the id.
    """
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the reply-token secret must be at least {MIN_SECRET_BYTES} bytes")
    if isinstance(ticket_id, bool) or not isinstance(ticket_id, int) or ticket_id < 0:
        raise ValueError(f"invalid ticket id {ticket_id!r}")
    if "@" not in agent:
        raise ValueError(f"invalid agent address {agent!r}")
    if not _DOMAIN.match(domain):
        raise ValueError(f"invalid Message-ID domain {domain!r}")
    nonce = secrets.token_hex(5) if nonce is None else nonce
    if not _NONCE.match(nonce):
        raise ValueError(f"invalid nonce {nonce!r}: 1-32 lower-case letters or digits")
    return f"<mtx.{ticket_id}.{nonce}.{_tag(secret, ticket_id, agent, nonce)}@{domain}>"


def _parse_token(message_id: str) -> tuple[int, str, str] | None:
    match = _TOKEN.match(message_id.strip())
    if match is None:
        return None
    return int(match.group(1)), match.group(2), match.group(3)


def token_ticket(message_id: str) -> int | None:
    """The ticket an id of our format names, NOT verified (good for threading only)."""
    parsed = _parse_token(message_id)
    return parsed[0] if parsed else None


def verify_token(secret: bytes, mail_ids: Sequence[str], sender: str) -> int | None:
    """The ticket proven by the first of ``mail_ids`` whose tag was minted for ``sender``."""
    if len(secret) < MIN_SECRET_BYTES or "@" not in sender:
        return None
    for message_id in mail_ids:
        parsed = _parse_token(message_id)
        if parsed is None:
            continue
        ticket_id, nonce, tag = parsed
        if hmac.compare_digest(tag, _tag(secret, ticket_id, sender, nonce)):
            return ticket_id
    return None


# --- Authentication-Results ---------------------------------------------------------------


@dataclass(frozen=True)
class AuthVerdict:
    """Whether the From address is authenticated, by which result, or why not."""

    verified: bool
    method: str = ""
    reason: str = ""
    failed: bool = False  # our trusted MX says the From domain failed DMARC: a forgery


def _refused(reason: str) -> AuthVerdict:
    return AuthVerdict(False, reason=reason)


def authenticated_sender(mail: ParsedMail, trusted_authserv_ids: Collection[str]) -> AuthVerdict:
    """Whether our trusted MX vouches for ``mail.sender`` (topmost Authentication-Results only)."""
    trusted = {server.strip().lower() for server in trusted_authserv_ids if server.strip()}
    if not trusted:
        return _refused("no trusted authserv-id configured")
    if mail.sender is None:
        return _refused("no sender address")
    address = mail.sender.email.strip().lower()
    local, _, domain = address.rpartition("@")
    if not local or not domain:
        return _refused(f"sender {address!r} has no domain")
    values = mail.header_all("authentication-results")
    if not values:
        return _refused("no Authentication-Results header")
    header, problem = _parse_header(values[0])
    if header is None:
        return _refused(problem)
    if header.authserv_id not in trusted:
        return _refused(f"topmost Authentication-Results is from untrusted {header.authserv_id!r}")
    method = _passing_method(header.results, address, domain)
    if method is not None:
        return AuthVerdict(True, method=method)
    summary = ", ".join(_describe(result) for result in header.results) or "none"
    failed = any(
        _properties(result).get("header.from", "").lower() == domain
        for result in header.results
        if str(result.method).lower() == "dmarc" and str(result.result).lower() == "fail"
    )
    reason = f"no dmarc or aligned dkim pass for {domain} ({summary})"
    return AuthVerdict(False, reason=reason, failed=failed)


def trusted_results_position(mail: ParsedMail, trusted_authserv_ids: Collection[str]) -> int | None:
    """Where in ``mail.headers`` the topmost Authentication-Results is, when our trusted MX
    wrote it (its authserv-id is trusted and it parses); None otherwise. Headers above it
    were added by that MX or after it; headers below it may be the sender's own."""
    trusted = {server.strip().lower() for server in trusted_authserv_ids if server.strip()}
    for index, (name, value) in enumerate(mail.headers):
        if name == "authentication-results":
            header, _ = _parse_header(value)
            ok = header is not None and header.authserv_id in trusted
            return index if ok else None
    return None


def _parse_header(value: str) -> tuple[Any, str]:
    """(authres's header object, "") or (None, why the value was not parsed)."""
    if len(value) > MAX_AUTH_RESULTS_CHARS:
        return None, f"topmost Authentication-Results too long ({len(value)} characters)"
    try:
        return authres.parse_value(value), ""
    except Exception as exc:  # any parser failure (SyntaxError, RecursionError...) fails closed
        why = f"topmost Authentication-Results unparseable: {type(exc).__name__}: {exc}"
        return None, why[:300]


def _properties(result: Any) -> dict[str, str]:
    """``{"header.d": "example.com", ...}`` (names lower-cased; the first of a repeat wins)."""
    found: dict[str, str] = {}
    for prop in getattr(result, "properties", None) or ():
        key = f"{prop.type or ''}.{prop.name or ''}".lower()
        found.setdefault(key, str(prop.value or ""))
    return found


def _passes(results: Iterable[Any], method: str) -> list[dict[str, str]]:
    return [
        _properties(result)
        for result in results
        if str(result.method).lower() == method and str(result.result).lower() == "pass"
    ]


def _passing_method(results: Sequence[Any], address: str, domain: str) -> str | None:
    for props in _passes(results, "dmarc"):
        if props.get("header.from", "").lower() == domain:
            return f"dmarc=pass header.from={domain}"
    for props in _passes(results, "dkim"):
        signer = props.get("header.d", "").lower().rstrip(".")
        if signer and not aligned(signer, domain):
            continue
        if signer:
            return f"dkim=pass header.d={signer}"
        identity = props.get("header.i", "").lower()
        if identity in (address, f"@{domain}"):
            return f"dkim=pass header.i={identity}"
    return None


def aligned(signer: str, domain: str) -> bool:
    """Whether a DKIM ``d=`` domain vouches for ``domain``: the same, or a parent of it with at
    least two labels (acme.example for sub.acme.example; never a bare "example")."""
    return signer == domain or ("." in signer and domain.endswith("." + signer))


def _describe(result: Any) -> str:
    props = _properties(result)
    shown = [f"{key}={props[key]}" for key in ("header.from", "header.d") if key in props]
    return " ".join([f"{result.method}={result.result}", *shown])
