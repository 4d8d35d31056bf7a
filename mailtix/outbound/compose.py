"""Turn an OutgoingMail into the bytes handed to SMTP; pure (no I/O).

The message is multipart/alternative (text/plain + text/html, UTF-8), inside multipart/mixed
when there are attachments, with CRLF line ends and header lines folded at 78 characters where
possible and never over 998. It is written directly rather than through ``email.message``
(whose header parsing and refolding cost ~2 ms a message); the ``email`` package still does
every encoding: RFC 2047 encoded words (``email.header.Header``), quoting (``email.utils``),
RFC 2231 filenames, and quoted-printable / base64 bodies (``binascii``, as ``email`` uses).

Header input is never trusted: CR, LF, NUL and other control characters are replaced, message
ids that are not ``<left@right>`` are dropped, display names are always quoted or encoded, and
no Bcc header is ever written, so customer data cannot inject headers or recipients
(CVE-2024-6923, CVE-2017-9801). Bodies carry no control character but tab and newline.
Addresses with a non-ASCII local part are written as UTF-8 (RFC 6531, sent with SMTPUTF8);
everything else is ASCII.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from email.header import Header
from email.utils import encode_rfc2231, format_datetime, quote

from mailtix.domain.values import Address, Attachment, OutgoingMail

MAX_REFERENCES = 20
MAX_MESSAGE_ID = 250
MAX_DISPLAY_NAME = 200
MAX_HEADER_VALUE = 900
_MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>\Z")
# C0 and C1 controls, line separators, and the bidi embeddings, overrides and isolates
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\Z")
_HEADER_NAME = re.compile(r"[!-9;-~]+\Z")
# Headers compose() writes itself; extra_headers may not set (or duplicate) them.
_RESERVED = frozenset(
    {
        "from", "to", "cc", "bcc", "subject", "date", "message-id", "in-reply-to", "references",
        "reply-to", "auto-submitted", "x-auto-response-suppress", "x-mailtix-loop", "sender",
        "mime-version", "content-type", "content-transfer-encoding", "return-path", "x-mailer",
    }
)  # fmt: skip


_TOKEN = re.compile(r"^[A-Za-z0-9!#$&^_.+-]{1,64}$")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT})*\Z")
_DOT_ATOM_UTF8 = re.compile(
    r"[^\x00-\x20()<>\[\]:;@\\,.\"\x7f]+(?:\.[^\x00-\x20()<>\[\]:;@\\,.\"\x7f]+)*\Z"
)
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')  # as email.utils.formataddr: such names are quoted
_NOT_DOMAIN = re.compile(r"[^A-Za-z0-9.-]")
_DOMAIN_LITERAL = re.compile(r"\[[A-Za-z0-9.:]+\]\Z")
MAX_LINE = 78  # fold header lines here when possible (RFC 5322); 998 is the hard limit
MAX_HEADER_NAME = 76
CRLF = "\r\n"


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


@functools.lru_cache(maxsize=1024)  # the same few (mailbox, agent) addresses in every mail
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


def _local_text(local: str, utf8: bool) -> str:
    """The local part as a dot-atom when it is one, else as a quoted string."""
    if (_DOT_ATOM_UTF8 if utf8 else _DOT_ATOM).match(local):
        return local
    return f'"{quote(local)}"'


def _domain_text(domain: str, utf8: bool) -> str:
    """A domain that cannot end the address early or confuse a parser: characters that are not
    domain characters go, and so do empty labels ("invalid" if nothing is left)."""
    if _DOMAIN.match(domain) or _DOMAIN_LITERAL.match(domain):
        return domain
    if utf8:
        kept = "".join(ch for ch in domain if ch.isalnum() or ch in ".-")
    else:
        kept = _NOT_DOMAIN.sub("", domain)
    labels = [label.strip("-") for label in kept.split(".")]
    return ".".join(label for label in labels if label) or "invalid"


def _encoded_words(text: str, name: str = "") -> str:
    """``text`` as RFC 2047 encoded words (UTF-8), folded; ``name`` counts on the first line."""
    header = Header(text, "utf-8", maxlinelen=MAX_LINE, header_name=name or None)
    return header.encode(linesep=CRLF)


@functools.lru_cache(maxsize=1024)  # From and Reply-To are a mailbox's in every mail
def _mailbox(address: Address, utf8: bool) -> str:
    """``Name <local@domain>`` (or the bare address): the name quoted, or encoded."""
    local, domain = _split_address(address.email)
    spec = f"{_local_text(local, utf8)}@{_domain_text(domain, utf8)}" if local or domain else ""
    name = clean_text(address.name, MAX_DISPLAY_NAME)
    if not name:
        return spec or "<>"
    if name.isascii() and "=?" not in name:
        phrase = f'"{quote(name)}"' if _SPECIALS.search(name) else name
    else:
        phrase = _encoded_words(name)
    return f"{phrase} <{spec}>"


def _fold(name: str, parts: Sequence[str], separator: str = "") -> str:
    """``Name: part1<separator> part2 …`` breaking the line before a part that would pass
    ``MAX_LINE``; parts may carry their own folds (encoded words)."""
    line = f"{name}: {(separator + ' ').join(parts)}"
    if len(line) <= MAX_LINE and CRLF not in line:  # all on one line: nothing to fold
        return line + CRLF
    text, column = f"{name}:", len(name) + 1
    for index, part in enumerate(parts):
        if index:
            text += separator
            column += len(separator)
            if column + 1 + len(part.partition(CRLF)[0]) > MAX_LINE:
                text += CRLF
                column = 0
        text += " " + part
        column = len(part.rpartition(CRLF)[2]) if CRLF in part else column + 1 + len(part)
    return text + CRLF


def _unstructured(name: str, value: str) -> str:
    """A text header (``value`` already cleaned); encoded words when it is not plain ASCII."""
    if value.isascii() and "=?" not in value:
        return _fold(name, value.split(" ") if value else [""])
    return f"{name}: {_encoded_words(value, name)}{CRLF}"


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


def _headers(mail: OutgoingMail, now: datetime, utf8: bool, mailer: str) -> str:
    message_id = valid_message_id(mail.message_id)
    if message_id is None:
        raise ValueError(f"invalid Message-ID {mail.message_id!r}")
    lines = [
        _fold("From", [_mailbox(mail.sender, utf8)]),
        _fold("To", [_mailbox(a, utf8) for a in mail.to], ","),
    ]
    if mail.cc:
        lines.append(_fold("Cc", [_mailbox(a, utf8) for a in mail.cc], ","))
    if mail.reply_to is not None:
        lines.append(_fold("Reply-To", [_mailbox(mail.reply_to, utf8)]))
    lines.append(_unstructured("Subject", clean_text(mail.subject)))
    lines.append(f"Date: {format_datetime(now.astimezone(UTC))}{CRLF}")
    lines.append(f"Message-ID: {message_id}{CRLF}")
    parent = valid_message_id(mail.in_reply_to)
    if parent is not None:
        lines.append(f"In-Reply-To: {parent}{CRLF}")
    references = _references(mail)
    if references:  # folded between ids, never encoded (that would break threads)
        lines.append(_fold("References", references))
    if mail.auto_submitted:
        lines.append(_unstructured("Auto-Submitted", clean_text(mail.auto_submitted, 100)))
        lines.append(f"X-Auto-Response-Suppress: All{CRLF}")
    loop = clean_text("@".join(_split_address(mail.sender.email)))
    lines.append(_unstructured("X-Mailtix-Loop", loop))
    if mailer:
        lines.append(_unstructured("X-Mailer", clean_text(mailer, 100)))
    for name, value in mail.extra_headers:
        fits = len(name) <= MAX_HEADER_NAME and _HEADER_NAME.match(name)
        if fits and name.lower() not in _RESERVED:
            lines.append(_unstructured(name, clean_text(value)))
    return "".join(lines)


def _body(text: str) -> str:
    """Line breaks normalised to LF (written as CRLF), NUL removed, final newline; other C0
    controls (but tab) and DEL shown as their Unicode control pictures, C1 controls as U+FFFD:
    a stranger's escape sequence reaches no agent's or customer's terminal mail reader."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if _BODY_CONTROL.search(text):
        text = _BODY_CONTROL.sub(_control_picture, text)
    return text if text.endswith("\n") else text + "\n"


_BODY_CONTROL = re.compile("[\x01-\x08\x0b-\x1f\x7f-\x9f]")
_ASCII_CONTROL = bytes([*range(0x09), *range(0x0B, 0x20), 0x7F])  # CR and NUL too


def _body_bytes(text: str) -> bytes:
    """``_body(text)`` as UTF-8; straight from ``text`` when it has nothing ``_body`` would
    change: no C0 control but tab and newline, no DEL, and no ``\xc2`` byte, which leads
    every C1 control (and other U+0080-U+00BF); ``translate`` finds them in C."""
    data = text.encode("utf-8", "replace")
    if b"\xc2" in data or len(data.translate(None, _ASCII_CONTROL)) != len(data):
        return _body(text).encode("utf-8", "replace")
    return data if data.endswith(b"\n") else data + b"\n"


def _control_picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # U+241B for ESC
    return "\u2421" if code == 0x7F else "\ufffd"


def _text_part(subtype: str, text: str) -> bytes:
    """A text/* part, UTF-8: 7bit or 8bit when every line fits in 78 characters (as
    ``email.contentmanager`` chooses), else quoted-printable, or base64 when mostly non-ASCII."""
    data = _body_bytes(text)
    if max(map(len, data.split(b"\n"))) <= MAX_LINE:
        cte, payload = ("7bit" if data.isascii() else "8bit"), data.replace(b"\n", b"\r\n")
    elif not data.isascii() and _high_bytes(data) * 6 > len(data):
        cte, payload = "base64", _base64(data)
    else:
        qp = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
        cte, payload = "quoted-printable", qp.replace(b"\n", b"\r\n")
    head = f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
    return f"{head}Content-Transfer-Encoding: {cte}{CRLF}{CRLF}".encode("ascii") + payload


_HIGH = bytes(range(128, 256))


def _high_bytes(data: bytes) -> int:
    """How many bytes of ``data`` are not ASCII."""
    return len(data) - len(data.translate(None, _HIGH))


def _base64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _multipart(subtype: str, parts: Sequence[bytes]) -> bytes:
    """The Content-Type header, blank line and body of a multipart holding ``parts``."""
    boundary = f"=_mailtix_{secrets.token_hex(12)}"
    while any(boundary.encode("ascii") in part for part in parts):  # 7bit/8bit text could
        boundary = f"=_mailtix_{secrets.token_hex(12)}"
    delimiter = f"--{boundary}".encode("ascii")
    body = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts)
    head = f'Content-Type: multipart/{subtype};{CRLF} boundary="{boundary}"{CRLF}{CRLF}'
    return head.encode("ascii") + body + delimiter + b"--\r\n"


def compose(mail: OutgoingMail, *, now: datetime | None = None, mailer: str = "") -> bytes:
    """The RFC 5322 bytes (CRLF line ends) of ``mail``; ``now`` sets the Date (default: now),
    ``mailer`` an X-Mailer header (none when empty)."""
    utf8 = _needs_utf8(mail)
    head = _headers(mail, now or datetime.now(UTC), utf8, mailer)
    body = _multipart(
        "alternative", [_text_part("plain", mail.text), _text_part("html", mail.html)]
    )
    if mail.attachments:
        body = _multipart("mixed", [body, *(_attachment(item) for item in mail.attachments)])
    return (head + "MIME-Version: 1.0" + CRLF).encode("utf-8") + body


def _attachment(item: Attachment) -> bytes:
    """``item`` as a download with its (cleaned) filename: base64, except an attached message,
    which RFC 2046 (5.2.1) allows only as 7bit or 8bit; one that cannot be sent so (a line
    over 998 bytes, NUL, a bare CR) goes as an application/octet-stream file instead."""
    maintype, _, subtype = item.content_type.lower().partition("/")
    if not (_TOKEN.match(maintype) and _TOKEN.match(subtype)):
        maintype, subtype = "application", "octet-stream"
    filename = clean_text(item.filename, 255) or "attachment"
    params = ";".join(f"{CRLF} {p}" for p in _filename_params(filename))
    disposition = f"Content-Disposition: attachment;{params}{CRLF}{CRLF}"
    if maintype == "message":
        content = _message_lines(item.content)
        if content is not None:
            cte = "7bit" if content.isascii() else "8bit"
            head = f"Content-Type: message/{subtype}{CRLF}Content-Transfer-Encoding: {cte}{CRLF}"
            return (head + disposition).encode("ascii") + content
        maintype, subtype = "application", "octet-stream"
    head = f"Content-Type: {maintype}/{subtype}{CRLF}Content-Transfer-Encoding: base64{CRLF}"
    return (head + disposition).encode("ascii") + _base64(item.content)


def _message_lines(content: bytes) -> bytes | None:
    """An attached message with CRLF line ends, or None when 7bit/8bit cannot carry it."""
    lines = content.replace(b"\r\n", b"\n").split(b"\n")
    if any(len(line) > 998 or b"\r" in line or b"\x00" in line for line in lines):
        return None
    return b"\r\n".join(lines)


def _filename_params(filename: str) -> list[str]:
    """``filename="…"``, or RFC 2231 ``filename*=utf-8''…`` (split into numbered sections of
    at most 60 characters, never inside a %XX escape) when it is not ASCII."""
    if filename.isascii():
        return [f'filename="{quote(filename)}"']
    value = encode_rfc2231(filename, "utf-8")
    if len(value) <= 60:
        return [f"filename*={value}"]
    sections, start = [], 0
    while start < len(value):
        end = min(start + 60, len(value))
        escape = value.rfind("%", end - 2, end)
        if end < len(value) and escape != -1:
            end = escape
        sections.append(value[start:end])
        start = end
    return [f"filename*{n}*={section}" for n, section in enumerate(sections)]
