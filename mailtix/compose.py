"""Turn an OutgoingMail into the bytes handed to SMTP; pure (no I/O).

The message is built with ``email.message.EmailMessage`` and ``email.policy.SMTP`` (CRLF, folded
header lines, no line over 998 characters) as multipart/alternative (text/plain + text/html,
UTF-8). Header input is never trusted: CR, LF, NUL and other control characters are replaced,
message ids that are not ``<left@right>`` are dropped, and no Bcc header is ever written, so
customer data cannot inject headers or recipients (CVE-2024-6923, CVE-2017-9801).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from email.headerregistry import Address as HeaderAddress
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8, EmailPolicy
from email.utils import format_datetime
from typing import Any

from mailtix.values import Address, Attachment, OutgoingMail

MAX_REFERENCES = 20
MAX_MESSAGE_ID = 250
MAX_DISPLAY_NAME = 200
MAX_HEADER_VALUE = 900
_MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\Z")
_HEADER_NAME = re.compile(r"[!-9;-~]+\Z")
# Headers compose() writes itself; extra_headers may not set (or duplicate) them.
_RESERVED = frozenset(
    {
        "from", "to", "cc", "bcc", "subject", "date", "message-id", "in-reply-to", "references",
        "reply-to", "auto-submitted", "x-auto-response-suppress", "x-mailtix-loop", "sender",
        "mime-version", "content-type", "content-transfer-encoding", "return-path",
    }
)  # fmt: skip


class _MessageIdListHeader(UnstructuredHeader):
    """In-Reply-To/References: folded between ids, never RFC 2047-encoded (that breaks threads)."""

    max_count = 1

    def fold(self, *, policy: Any) -> str:
        lines = [f"{self.name}:"]  # type: ignore[attr-defined]
        for message_id in str(self).split():
            full = len(lines[-1]) + 1 + len(message_id) > policy.max_line_length
            if full and not lines[-1].endswith(":"):  # the first id stays on the name's line
                lines.append("")
            lines[-1] += " " + message_id
        return policy.linesep.join(lines) + policy.linesep


_TOKEN = re.compile(r"^[A-Za-z0-9!#$&^_.+-]{1,64}$")


def _policy(base: EmailPolicy[EmailMessage]) -> EmailPolicy[EmailMessage]:
    registry = HeaderRegistry()
    header_class: Any = _MessageIdListHeader  # the registry mixes in BaseHeader
    registry.map_to_type("in-reply-to", header_class)
    registry.map_to_type("references", header_class)
    return base.clone(header_factory=registry)


_POLICY = _policy(SMTP)
_POLICY_UTF8 = _policy(SMTPUTF8)  # only when an address has a non-ASCII local part (RFC 6531)


def clean_text(value: str, limit: int = MAX_HEADER_VALUE) -> str:
    """A header value on one line: control characters become one space; trimmed to ``limit``."""
    return " ".join(_CONTROL.sub(" ", value).split())[:limit].rstrip()


def valid_message_id(value: str | None) -> str | None:
    """``value`` stripped, if it is a usable ``<left@right>`` message id; else None."""
    if not value:
        return None
    value = value.strip()
    ok = len(value) <= MAX_MESSAGE_ID and _MESSAGE_ID.match(value) and value.isascii()
    return value if ok and not _CONTROL.search(value) else None


def make_message_id(domain: str) -> str:
    """A fresh, unguessable Message-ID of ``domain``, e.g. ``<3f2a…@example.com>``."""
    return f"<{uuid.uuid4().hex}@{_ascii_domain(domain) or 'mailtix.invalid'}>"


def _ascii_domain(domain: str) -> str:
    domain = "".join(domain.split()).strip(".").lower()
    domain = _CONTROL.sub("", domain)
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return ""
    return domain if _DOMAIN.match(domain) else ""


def _split_address(email: str) -> tuple[str, str]:
    """(local part, ASCII domain) of an addr-spec, with control characters and spaces removed."""
    local, _, domain = _CONTROL.sub("", email).strip().rpartition("@")
    local = "".join(local.split())
    return local, _ascii_domain(domain) or domain


def envelope_recipients(mail: OutgoingMail) -> list[str]:
    """Every To and Cc addr-spec once, in order, as the SMTP envelope needs them."""
    seen: dict[str, None] = {}
    for address in (*mail.to, *mail.cc):
        local, domain = _split_address(address.email)
        if local and domain:
            seen.setdefault(f"{local}@{domain}", None)
    return list(seen)


def _header_address(address: Address) -> HeaderAddress:
    local, domain = _split_address(address.email)
    name = clean_text(address.name, MAX_DISPLAY_NAME)
    return HeaderAddress(display_name=name, username=local, domain=domain)


def _references(mail: OutgoingMail) -> list[str]:
    """Valid, unique ids ending with In-Reply-To; the thread's first id is kept when capping."""
    ids = list(dict.fromkeys(filter(None, map(valid_message_id, mail.references))))
    parent = valid_message_id(mail.in_reply_to)
    if parent is not None:
        if parent in ids:
            ids.remove(parent)
        ids.append(parent)
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids


def _needs_utf8(mail: OutgoingMail) -> bool:
    addresses = (mail.sender, *mail.to, *mail.cc, *((mail.reply_to,) if mail.reply_to else ()))
    return not all(_split_address(a.email)[0].isascii() for a in addresses)


def _set_headers(message: EmailMessage, mail: OutgoingMail, now: datetime) -> None:
    message_id = valid_message_id(mail.message_id)
    if message_id is None:
        raise ValueError(f"invalid Message-ID {mail.message_id!r}")
    message["From"] = _header_address(mail.sender)
    message["To"] = [_header_address(a) for a in mail.to]
    if mail.cc:
        message["Cc"] = [_header_address(a) for a in mail.cc]
    if mail.reply_to is not None:
        message["Reply-To"] = _header_address(mail.reply_to)
    message["Subject"] = clean_text(mail.subject)
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = message_id
    parent = valid_message_id(mail.in_reply_to)
    if parent is not None:
        message["In-Reply-To"] = parent
    references = _references(mail)
    if references:
        message["References"] = " ".join(references)
    if mail.auto_submitted:
        message["Auto-Submitted"] = clean_text(mail.auto_submitted, 100)
        message["X-Auto-Response-Suppress"] = "All"
    message["X-Mailtix-Loop"] = "@".join(_split_address(mail.sender.email))
    for name, value in mail.extra_headers:
        if _HEADER_NAME.match(name) and name.lower() not in _RESERVED:
            message[name] = clean_text(value)


def _body(text: str) -> str:
    """Line breaks normalised to LF (the policy writes CRLF), NUL removed, final newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return text if text.endswith("\n") else text + "\n"


def compose(mail: OutgoingMail, *, now: datetime | None = None) -> bytes:
    """The RFC 5322 bytes (CRLF line ends) of ``mail``; ``now`` sets the Date (default: now)."""
    policy = _POLICY_UTF8 if _needs_utf8(mail) else _POLICY
    message = EmailMessage(policy=policy)
    _set_headers(message, mail, now or datetime.now(UTC))
    message.set_content(_body(mail.text), subtype="plain", charset="utf-8")
    message.add_alternative(_body(mail.html), subtype="html", charset="utf-8")
    for item in mail.attachments:
        _attach(message, item)
    return message.as_bytes(policy=policy)


def _attach(message: EmailMessage, item: Attachment) -> None:
    """Add ``item`` as a download (the message becomes multipart/mixed around the text)."""
    maintype, _, subtype = item.content_type.partition("/")
    if not (_TOKEN.match(maintype) and _TOKEN.match(subtype)):
        maintype, subtype = "application", "octet-stream"
    filename = clean_text(item.filename, 255) or "attachment"
    message.add_attachment(item.content, maintype=maintype, subtype=subtype, filename=filename)
