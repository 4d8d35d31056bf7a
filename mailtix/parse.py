"""Turn the raw bytes of one message into a clean, bounded ParsedMail (the only mail-parser user).

The MIME tree is read with the stdlib parser (policy compat32, which keeps raw header values);
mail-parser supplies its hardened RFC 5322 date reader. Everything that leaves this module is
decoded text without control characters; anything odd that was survived is listed in
``ParsedMail.defects``. Only bytes that are not an email at all raise ParseError.
"""

from __future__ import annotations

import binascii
import codecs
import logging
import re
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from mailparser.dates import parse_mail_date

from mailtix.errors import ParseError
from mailtix.html_text import html_to_text, sanitize_html
from mailtix.values import Address, Attachment, ParsedMail

logging.getLogger("mailparser").setLevel(logging.CRITICAL)

MAX_DEPTH = 50
MAX_PARTS = 1000
MAX_HEADER_BYTES = 1_000_000
MAX_REFERENCES = 100
MAX_FILENAME = 255

_LINE_BREAKS = re.compile(r"[\t\n\r\v\f\x85\u2028\u2029]")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_BIDI = re.compile(r"[\x80-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_RUNS_OF_SPACES = re.compile(r" {2,}")
_FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\r\n]*?)\?=")
_WORD_RUN = re.compile(_ENCODED_WORD.pattern + r"(?:[ \t]*" + _ENCODED_WORD.pattern + ")*")
_ANGLE_TOKEN = re.compile(r"<([^<>]*)>")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_HEADER_LINE = re.compile(rb"[!-9;-~]+:")
_HEADER_END = re.compile(rb"\n\r?\n|\r\r")
_ADDR_LIKE = re.compile(r"[^\s<>()\"',;:@]+@[^\s<>()\"',;:@]+")
_BAD_IN_ADDRESS = re.compile(r'[\s\x00-\x1f\x7f<>(),;:"\[\]\\\u202a-\u202e\u2066-\u2069]')
# Charset labels seen in the wild, mapped as browsers do (WHATWG encoding standard).
_CHARSET_ALIASES = {
    "utf8mb4": "utf-8", "utf8mb3": "utf-8", "utf8": "utf-8", "unicode-1-1-utf-7": "utf-7",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "ks_c_5601-1987": "cp949", "euc-kr": "cp949",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "shift_jis": "cp932",
    "x-sjis": "cp932", "windows-874": "cp874", "tis-620": "cp874", "iso-8859-8-i": "iso-8859-8",
}  # fmt: skip
_REFUSED_CODECS = {"undefined", "unicode_escape", "raw_unicode_escape", "idna", "punycode"}
_ASCII = {"ascii", "us-ascii", "ansi_x3.4-1968", "us_ascii"}

_PARSER = BytesParser(policy=compat32)


def parse_message(
    raw: bytes,
    *,
    max_depth: int = MAX_DEPTH,
    max_parts: int = MAX_PARTS,
    max_header_bytes: int = MAX_HEADER_BYTES,
) -> ParsedMail:
    """Parse ``raw``; raise ParseError only when it is not an email (or its header is too big)."""
    defects: list[str] = []
    msg = _read_structure(raw, max_header_bytes, defects)
    try:
        return _build(msg, max_depth, max_parts, defects)
    except RecursionError as exc:
        raise ParseError("MIME structure too deep") from exc
    except Exception as exc:  # a parser bug must quarantine the mail, not kill the batch
        raise ParseError(f"parser failed: {type(exc).__name__}: {exc}"[:200]) from exc


def _read_structure(raw: bytes, max_header_bytes: int, defects: list[str]) -> Message:
    stripped = raw.lstrip(b"\r\n\t ")
    if not stripped:
        raise ParseError("not an email: empty")
    if len(stripped) != len(raw):
        defects.append("leading blank lines")
    end = _HEADER_END.search(stripped)
    if (end.start() if end else len(stripped)) > max_header_bytes:
        raise ParseError("header block too large")
    try:
        msg = _PARSER.parsebytes(stripped)
    except RecursionError:
        defects.append("MIME structure too deep; body not parsed")
        msg = _PARSER.parsebytes(stripped, headersonly=True)
        msg.set_payload("")
    if not msg.keys():
        msg = _skip_junk_line(stripped, defects)
    return msg


def _skip_junk_line(raw: bytes, defects: list[str]) -> Message:
    """Retry without a first line that is not a header (e.g. "---- Original message ----")."""
    _, newline, rest = raw.partition(b"\n")
    if newline and _HEADER_LINE.match(rest):
        msg = _PARSER.parsebytes(rest)
        if msg.keys():
            defects.append("junk line before the header")
            return msg
    raise ParseError("not an email: no headers")


def _build(msg: Message, max_depth: int, max_parts: int, defects: list[str]) -> ParsedMail:
    plain, html, attachments = _walk(msg, max_depth, max_parts, defects)
    html_raw = "\n".join(html)
    text = "\n".join(plain) if plain else html_to_text(html_raw) if html else ""
    message_ids = _message_ids(_raw(msg, "message-id"))
    return ParsedMail(
        message_id=message_ids[0] if message_ids else None,
        subject=header_text(_raw(msg, "subject") or "", defects),
        sender=_sender(msg, defects),
        to=_addresses(msg, "to", defects),
        cc=_addresses(msg, "cc", defects),
        reply_to=_addresses(msg, "reply-to", defects),
        in_reply_to=_message_ids(_raw(msg, "in-reply-to")),
        references=_references(_raw_all(msg, "references")),
        date=_date(_raw(msg, "date"), defects),
        text=text,
        html=sanitize_html(html_raw) if html else None,
        attachments=tuple(attachments),
        headers=tuple(
            (clean_header(name).lower(), header_text(value, defects))
            for name, value in msg.raw_items()
        ),
        return_path=_return_path(_raw(msg, "return-path"), defects),
        defects=tuple(dict.fromkeys(defects + _stdlib_defects(msg)))[:50],
    )


# ---------------------------------------------------------------- header text


def _raw_all(msg: Message, name: str) -> list[str]:
    """Every raw value of ``name``; compat32's get() would garble raw 8-bit text."""
    wanted = name.lower()
    return [str(value) for key, value in msg.raw_items() if key.lower() == wanted]


def _raw(msg: Message, name: str) -> str | None:
    values = _raw_all(msg, name)
    return values[0] if values else None


def clean_header(value: str) -> str:
    """``value`` on one line: line breaks and tabs become spaces, other C0 controls vanish."""
    value = _CONTROLS.sub("", _LINE_BREAKS.sub(" ", value))
    return _RUNS_OF_SPACES.sub(" ", _SURROGATES.sub("\ufffd", value)).strip()


def header_text(value: object, defects: list[str] | None = None) -> str:
    """Decoded (8-bit and RFC 2047) and cleaned text of one raw header value."""
    return clean_header(_decode_words(_unfold(value), defects if defects is not None else []))


def _unfold(value: object) -> str:
    """Unfolded header text; raw 8-bit bytes are read as UTF-8, else as Windows-1252."""
    text = _FOLD.sub("", str(value))
    if text.isascii():
        return text
    raw = text.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def _decode_words(value: str, defects: list[str]) -> str:
    """Decode RFC 2047 encoded words; adjacent words of one charset are joined before decoding."""
    out: list[str] = []
    pending: list[bytes] = []
    charset = ""
    pos = 0
    after_word = False

    def flush() -> None:
        if pending:
            out.append(decode_bytes(b"".join(pending), charset, defects, "header"))
            pending.clear()

    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        pos = match.end()
        if gap and not (after_word and gap.isspace()):  # whitespace between words is dropped
            flush()
            out.append(gap)
        data = _word_bytes(match.group(2), match.group(3))
        word_charset = match.group(1).split("*", 1)[0].lower()
        if data is None:
            flush()
            defects.append("undecodable encoded word")
            out.append(match.group(0))
            after_word = False
            continue
        if word_charset != charset:
            flush()
            charset = word_charset
        pending.append(data)
        after_word = True
    flush()
    out.append(value[pos:])
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes | None:
    data = text.encode("utf-8", "surrogateescape")
    try:
        if encoding in "qQ":
            return binascii.a2b_qp(data, header=True)
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return None


def decode_bytes(data: bytes, charset: str | None, defects: list[str], where: str) -> str:
    """Text for ``data`` in ``charset``; unknown or wrong labels fall back, never raise."""
    label = (charset or "").strip().strip("\"'").lower()
    codec = _codec(label)
    if label and codec is None and label not in _ASCII:
        defects.append(f"unknown charset {clean_header(label)[:40]!r} in {where}")
    for candidate in ([codec] if codec else []) + ["utf-8"]:
        try:
            return data.decode(candidate)
        except (UnicodeError, LookupError):
            continue
    if codec:
        defects.append(f"invalid {codec} in {where}")
        try:
            return _SURROGATES.sub("\ufffd", data.decode(codec, "replace"))
        except (UnicodeError, LookupError):
            pass
    return data.decode("cp1252", "replace")


def _codec(label: str) -> str | None:
    if not label or label in _ASCII:
        return None
    name = _CHARSET_ALIASES.get(label, label)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if info.name.replace("-", "_") in _REFUSED_CODECS or not getattr(
        info, "_is_text_encoding", True
    ):
        return None
    return info.name


# ---------------------------------------------------------------- addresses and ids


def _address(name: str, addr: str, defects: list[str]) -> Address | None:
    addr = addr.strip()
    local, at, domain = addr.partition("@")
    if not (local and at and domain) or "@" in domain or len(addr) > 254:
        return None
    if _BAD_IN_ADDRESS.search(addr) and not _QUOTED.fullmatch(local):
        return None
    display = _BIDI.sub("", header_text(name, defects))
    return Address(email=addr.lower(), name=display)


def _addresses(msg: Message, field: str, defects: list[str]) -> tuple[Address, ...]:
    values = [_quote_words(_unfold(value)) for value in _raw_all(msg, field)]
    found: list[Address] = []
    for name, addr in _getaddresses(values, field, defects):
        address = _address(name, addr, defects)
        if address is not None:
            found.append(address)
        elif name or addr:
            defects.append(f"invalid address in {field}")
    return tuple(found)


def _getaddresses(values: list[str], field: str, defects: list[str]) -> list[tuple[str, str]]:
    try:
        return getaddresses(values)
    except RecursionError:  # the stdlib address parser recurses on some garbage
        defects.append(f"unparseable {field} header")
        return []


def _quote_words(raw: str) -> str:
    """Encoded words as quoted strings, so a comma inside one cannot split an address list."""
    if "=?" not in raw:
        return raw

    def quote(match: re.Match[str]) -> str:
        if raw.count('"', 0, match.start()) % 2:
            return match.group(0)  # already inside a quoted string
        text = clean_header(_decode_words(match.group(0), []))
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return _WORD_RUN.sub(quote, raw)


def _display_free(raw: str) -> str:
    """``raw`` without quoted strings and encoded words (display-name text, not addresses)."""
    return _ENCODED_WORD.sub("", _QUOTED.sub("", raw))


def _sender(msg: Message, defects: list[str]) -> Address | None:
    """The From mailbox, or None when From is missing, repeated, invalid or ambiguous."""
    values = _raw_all(msg, "from")
    if len(values) != 1:
        if values:
            defects.append("several From headers")
        return None
    raw = _quote_words(_unfold(values[0]))
    pairs = [pair for pair in _getaddresses([raw], "from", defects) if pair[1]]
    if len(pairs) != 1 or len({a.lower() for a in _ADDR_LIKE.findall(_display_free(raw))}) > 1:
        defects.append("ambiguous From")
        return None
    sender = _address(*pairs[0], defects)
    if sender is None:
        defects.append("invalid From")
    return sender


def _message_ids(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    text = clean_header(_unfold(value))
    tokens = _ANGLE_TOKEN.findall(text) or ([text] if text and " " not in text else [])
    ids = ("".join(token.split()) for token in tokens)
    return tuple(f"<{token}>" for token in ids if 0 < len(token) <= 998)


def _references(values: list[str]) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(i for value in values for i in _message_ids(value)))
    if len(ids) <= MAX_REFERENCES:
        return ids
    return ids[:1] + ids[-(MAX_REFERENCES - 1) :]  # keep the thread root and the latest ids


def _return_path(value: object, defects: list[str]) -> str | None:
    if value is None:
        return None
    text = clean_header(_unfold(value))
    tokens = _ANGLE_TOKEN.findall(text)
    addr = (tokens[0] if tokens else text).strip()
    if not addr:
        return ""
    address = _address("", addr, defects)
    if address is None:
        defects.append("invalid Return-Path")
        return None
    return address.email


def _date(value: object, defects: list[str]) -> datetime | None:
    if value is None:
        return None
    text = clean_header(_unfold(value))
    result = parse_mail_date(text)
    if result.value is not None:
        return result.value
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("unreadable Date")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _stdlib_defects(msg: Message) -> list[str]:
    return [type(defect).__name__ for defect in msg.defects]


# ---------------------------------------------------------------- body and attachments


def _walk(
    msg: Message, max_depth: int, max_parts: int, defects: list[str]
) -> tuple[list[str], list[str], list[Attachment]]:
    """Visit the MIME tree without recursion, at most ``max_depth`` deep and ``max_parts`` wide."""
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > max_parts:
            defects.append(f"more than {max_parts} MIME parts; the rest ignored")
            break
        payload = part.get_payload()
        if part.get_content_maintype() == "multipart" and isinstance(payload, list):
            if depth >= max_depth:
                defects.append(f"MIME structure deeper than {max_depth}; inner parts ignored")
                continue
            children = [child for child in payload if isinstance(child, Message)]
            stack.extend((child, depth + 1) for child in reversed(children))
            if part is not msg:
                defects.extend(type(defect).__name__ for defect in part.defects)
            continue
        _take_leaf(part, plain, html, attachments, defects)
    return plain, html, attachments


def _take_leaf(
    part: Message,
    plain: list[str],
    html: list[str],
    attachments: list[Attachment],
    defects: list[str],
) -> None:
    content_type = part.get_content_type()
    filename = _raw_filename(part, defects)
    disposition = part.get_content_disposition()
    if content_type in ("text/plain", "text/html") and disposition != "attachment" and not filename:
        text = _body_text(part, defects)
        (plain if content_type == "text/plain" else html).append(text)
        return
    if not filename:
        filename = _invented_filename(part, content_type)
    attachments.append(Attachment(clean_filename(filename), content_type, _content(part, defects)))


def _invented_filename(part: Message, content_type: str) -> str:
    """A name for an unnamed part: inner Subject (message/rfc822), Content-Description, or the
    Content-ID when it looks like a file name; "attachment" otherwise."""
    inner = part.get_payload()
    subject = ""
    if content_type == "message/rfc822" and isinstance(inner, list) and inner:
        assert isinstance(inner[0], Message)
        subject = header_text(_raw(inner[0], "subject") or "")
    description = header_text(_raw(part, "content-description") or "")
    content_id = header_text(_raw(part, "content-id") or "").strip("<>").split("@")[0]
    name = subject or description or (content_id if "." in content_id else "")
    extension = _EXTENSIONS.get(content_type, "")
    if not name:
        return "message.eml" if extension == ".eml" else "attachment"
    return name if name.lower().endswith(extension) else name + extension


def _raw_filename(part: Message, defects: list[str]) -> str:
    try:
        name = part.get_filename()
    except Exception:  # stdlib RFC 2231 edge cases; the part is still kept
        defects.append("unreadable attachment filename")
        return ""
    return header_text(name, defects) if name else ""


def clean_filename(name: str) -> str:
    """A display name for an attachment: no path, no controls or bidi overrides, <= 255 chars."""
    name = re.split(r"[/\\]", name)[-1]
    name = _BIDI.sub("", _CONTROLS.sub("", _LINE_BREAKS.sub(" ", name)))
    name = _RUNS_OF_SPACES.sub(" ", name).strip()
    name = _SURROGATES.sub("\ufffd", name)
    if name in ("", ".", ".."):
        return "attachment"
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        keep = bool(dot) and 0 < len(ext) <= 16
        name = stem[: MAX_FILENAME - len(ext) - 1] + "." + ext if keep else name[:MAX_FILENAME]
    return name


def _content(part: Message, defects: list[str]) -> bytes:
    payload = part.get_payload()
    try:
        if isinstance(payload, list):  # message/rfc822, message/delivery-status
            return b"\n".join(p.as_bytes() for p in payload if isinstance(p, Message))
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - keep the part, lose its bytes, record why
        defects.append(f"undecodable {part.get_content_type()} part")
        return b""
    return data if isinstance(data, bytes) else b""


def _body_text(part: Message, defects: list[str]) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    text = decode_bytes(data, _charset(part), defects, part.get_content_type())
    if "\x00" in text:
        defects.append("NUL characters removed from body")
        text = text.replace("\x00", "")
    return text.replace("\r\n", "\n").replace("\r", "\n")


_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
    "text/plain": ".txt",
    "text/html": ".html",
}


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:  # odd RFC 2231 charset parameters
        return None
